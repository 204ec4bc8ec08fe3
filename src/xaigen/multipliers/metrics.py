"""Error metrics of a multiplier, over uniform operands or over a given operand distribution.

With ``e(a, b) = T[a, b] - a*b`` and a probability ``p(a, b)`` over operand pairs:

* ``mae  = sum p |e|``                      (mean absolute error)
* ``wce  = max_{p>0} |e|``                  (worst-case error)
* ``mse  = sum p e^2``                      (mean squared error)
* ``mre  = sum p |e| / max(1, |a*b|)``      (mean relative error)
* ``ep   = sum_{e != 0} p``                 (error probability)
* ``bias = sum p e``                        (mean error; accumulates linearly in a dot product)

Uniform means ``p = 1/65536``. DNN operands are far from uniform (activations cluster near 0,
weights are bell-shaped), so a layer's own operand histogram gives a very different ranking.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from xaigen.multipliers.multiplier import Multiplier


@dataclass(frozen=True)
class ErrorMetrics:
    mae: float
    wce: float
    mse: float
    mre: float
    ep: float
    bias: float

    def as_dict(self) -> dict:
        return asdict(self)


def joint_distribution(a_hist: np.ndarray, b_hist: np.ndarray) -> np.ndarray:
    """Joint probability float64[256, 256] of independent operands from two 256-bin histograms.

    Histograms are indexed by operand bit pattern (same as the table) and need not be normalised.
    """
    a = np.asarray(a_hist, dtype=np.float64).reshape(256)
    b = np.asarray(b_hist, dtype=np.float64).reshape(256)
    if a.sum() <= 0 or b.sum() <= 0 or (a < 0).any() or (b < 0).any():
        raise ValueError("operand histograms must be non-negative with a positive total")
    return np.outer(a / a.sum(), b / b.sum())


def error_metrics(multiplier: Multiplier, distribution: np.ndarray | None = None) -> ErrorMetrics:
    """Error metrics of ``multiplier`` under ``distribution`` (float[256, 256], default uniform)."""
    err = multiplier.error_table.astype(np.float64)
    v = multiplier.values
    exact = np.abs(np.outer(v, v)).astype(np.float64)
    if distribution is None:
        p = np.full((256, 256), 1.0 / 65536)
    else:
        p = np.asarray(distribution, dtype=np.float64)
        if p.shape != (256, 256) or (p < 0).any() or p.sum() <= 0:
            raise ValueError("distribution must be a non-negative float[256, 256] with positive mass")
        p = p / p.sum()
    abs_err = np.abs(err)
    support = p > 0
    return ErrorMetrics(
        mae=float((p * abs_err).sum()),
        wce=float(abs_err[support].max()) if support.any() else 0.0,
        mse=float((p * err**2).sum()),
        mre=float((p * abs_err / np.maximum(exact, 1.0)).sum()),
        ep=float(p[err != 0].sum()),
        bias=float((p * err).sum()),
    )


def implausibility(multiplier: Multiplier) -> str | None:
    """Why the table looks like a misread file (wrong byte order, signedness, operand layout), or None.

    A table is implausible when its uniform MAE exceeds the mean ``|a*b|``: a circuit whose
    output is always 0 has exactly that error, so such a table is worse than no multiplier.
    Every EvoApproxLib 8x8 circuit stays at or below it (the constant-0 ``mul8u_TD3`` equals it).
    """
    v = multiplier.values
    reference = float(np.abs(np.outer(v, v)).mean())
    mae = error_metrics(multiplier).mae
    if mae > reference:
        return (f"implausible table: uniform MAE {mae:.0f} is larger than the mean product {reference:.0f} "
                "(a constant-0 output would be closer); check byte order, signedness and operand layout")
    return None
