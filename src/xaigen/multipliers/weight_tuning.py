"""Weight tuning (ALWANN): store, for each weight, the code the circuit multiplies best.

An approximate circuit ``T`` errs differently for each weight operand. ALWANN (Mrazek et al.,
ICCAD 2019) replaces every weight ``w`` of a layer by the code ``w'`` whose approximate products
``T[a, w']`` are closest to the exact ``a w`` over the activations the layer sees; the hardware
is unchanged, only the weights stored in memory are. With ``p(a)`` the layer's activation
distribution (its operand histogram) and ``K`` the fan-in of its accumulators:

    e(a) = T[a, w'] - a w
    J(w, w') = E_p[e^2] + (K - 1) E_p[e]^2
    map(w) = argmin_w' J(w, w')                       (ties keep w)

``J`` is the expected squared error one weight adds to an accumulator of ``K`` products whose
errors share a mean: the variance adds ``K`` times, the mean ``K^2`` times (as in the
noise-to-signal ratio of :func:`xaigen.search.methods.xai_gen.relative_error`). An exact circuit
maps every weight to itself, and a weight of 0 stays 0 whenever ``T[a, 0] = 0``.

The map is over bit patterns (the table's indexing, see :mod:`xaigen.multipliers.multiplier`);
the emulation applies it to a layer's quantized weight codes, so every kernel and the
product-by-product reference see the tuned codes, and bit-exactness is against them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from xaigen.multipliers.multiplier import Multiplier


def tuned_weight_map(multiplier: Multiplier, activation_hist: np.ndarray, fan_in: int) -> np.ndarray:
    """``map[w]`` (int64[256], bit pattern -> bit pattern) minimizing ``J`` (module docstring) for
    activations distributed as ``activation_hist`` (counts per bit pattern); the identity when the
    histogram is empty or the circuit is exact."""
    counts = np.asarray(activation_hist, dtype=np.float64).reshape(-1)
    if counts.shape != (256,):
        raise ValueError(f"activation histogram must have 256 bins, has {counts.shape}")
    identity = np.arange(256, dtype=np.int64)
    if counts.sum() <= 0 or multiplier.is_exact:
        return identity
    p = counts / counts.sum()
    a = multiplier.values.astype(np.float64)  # operand value of each bit pattern
    table = multiplier.table.astype(np.float64)  # [a pattern, w' pattern]
    mean_a, mean_a2 = p @ a, p @ (a * a)
    mean_t, mean_t2, mean_at = p @ table, p @ (table * table), (p * a) @ table  # per w' pattern
    w = a[:, None]  # the weight's exact value, per row
    mean_e = mean_t[None, :] - w * mean_a
    mean_e2 = mean_t2[None, :] - 2 * w * mean_at[None, :] + w * w * mean_a2
    cost = mean_e2 + (max(int(fan_in), 1) - 1) * mean_e * mean_e
    best = cost.argmin(axis=1)
    # Keep w where it is as good as the best (up to rounding): the map moves a weight only for a gain.
    keep = cost[identity, identity] <= cost[identity, best] * (1 + 1e-12) + 1e-9
    return np.where(keep, identity, best).astype(np.int64)


def tuned_view(multiplier: Multiplier, mapping: np.ndarray) -> Multiplier:
    """``multiplier`` as a tuned layer runs it: the table ``T[a, map(w)]`` (``mapping`` from
    :func:`tuned_weight_map`), indexed by the untuned weight's bit pattern, so that error models over
    the untuned operand histograms see the error the layer really makes. Same name and figures
    (the circuit is the same)."""
    if np.array_equal(mapping, np.arange(256)):
        return multiplier
    return dataclasses.replace(multiplier, table=multiplier.table[:, mapping])
