"""Weight tuning: the map minimizes the accumulated error it claims to, and leaves exact circuits alone."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xaigen.multipliers import exact, truncated, tuned_view, tuned_weight_map


def _relu_histogram(seed: int, signed: bool = True) -> np.ndarray:
    """Counts per bit pattern of ReLU-like activations: many zeros, a decaying positive tail."""
    rng = np.random.default_rng(seed)
    values = np.clip(np.round(rng.exponential(20.0, 5000)) * (rng.random(5000) < 0.6), 0, 127).astype(np.int64)
    return np.bincount(values & 0xFF, minlength=256)


def test_exact_circuit_maps_every_weight_to_itself():
    assert np.array_equal(tuned_weight_map(exact(signed=True), _relu_histogram(0), 64), np.arange(256))


def test_empty_histogram_is_the_identity():
    assert np.array_equal(tuned_weight_map(truncated(signed=True, columns=8), np.zeros(256), 64), np.arange(256))


def test_histogram_must_have_256_bins():
    with pytest.raises(ValueError, match="256 bins"):
        tuned_weight_map(truncated(signed=True, columns=8), np.ones(255), 64)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), fan_in=st.integers(1, 600), cut=st.sampled_from([4, 6, 8, 10]))
def test_tuning_lowers_the_accumulated_error_it_targets(seed, fan_in, cut):
    """Against a direct computation (not the vectorized formula): for every weight, the tuned code's
    expected squared error plus (K-1) squared mean error is at most the untuned code's."""
    m = truncated(signed=True, columns=cut)
    hist = _relu_histogram(seed)
    mapping = tuned_weight_map(m, hist, fan_in)
    p = hist / hist.sum()
    v = m.values
    for w in range(256):
        def cost(code):
            e = m.table[:, code].astype(np.float64) - v * v[w]
            return p @ (e * e) + (fan_in - 1) * (p @ e) ** 2
        assert cost(mapping[w]) <= cost(w) + 1e-9
    assert mapping[0] == 0  # T[a, 0] = 0: a zero weight stays zero


def test_tuned_accumulators_are_closer_to_exact():
    """The claim that matters, by simulation: accumulators of 256 products, activations drawn
    from the histogram, are nearer the exact dot product with the tuned weight codes."""
    rng = np.random.default_rng(1)
    m = truncated(signed=True, columns=8)
    hist = _relu_histogram(1)
    fan_in = 256
    mapping = tuned_weight_map(m, hist, fan_in)
    v = m.values
    a = rng.choice(256, size=(2000, fan_in), p=hist / hist.sum())
    w = rng.integers(-60, 61, size=fan_in) & 0xFF
    exact_dot = (v[a] * v[w]).sum(1)
    plain = m.table[a, w].astype(np.int64).sum(1) - exact_dot
    tuned = m.table[a, mapping[w]].astype(np.int64).sum(1) - exact_dot
    assert np.mean(tuned.astype(float) ** 2) < 0.5 * np.mean(plain.astype(float) ** 2)


def test_tuned_view_is_the_table_on_the_tuned_codes():
    m, hist = truncated(signed=True, columns=8), _relu_histogram(2)
    mapping = tuned_weight_map(m, hist, 100)
    view = tuned_view(m, mapping)
    assert view.name == m.name and view.power_mw == m.power_mw
    assert np.array_equal(view.table, m.table[:, mapping]) and not np.array_equal(view.table, m.table)
    plain = exact(signed=True)
    assert tuned_view(plain, tuned_weight_map(plain, hist, 100)) is plain
