"""Energy of one operation of a characterized multiplier circuit (the one place that says how).

A circuit library publishes a circuit's average power ``P`` (mW) at some characterization clock,
i.e. the energy of one operation is ``P * T_char``. The dynamic energy of one multiplication is a
property of the circuit and its operands (switched capacitance x V^2), not of the accelerator it
sits in: a slower accelerator clock lengthens the time between operations, not the energy of
each. So the energy per MAC is

    E_mul [pJ] = P [mW] * T_char [ns]

on every accelerator, and the multiplier energy ratio of two circuits is their power ratio.

The assumed characterization period, ``CHARACTERIZATION_PERIOD_NS = 1.0`` ns (1 GHz):
EvoApproxLib (Mrazek et al., DATE 2017) publishes ``PDK45_PWR`` (mW), ``PDK45_DELAY`` (ns) and
area from synthesis with a 45 nm PDK, but its circuit files state no clock for the power figure.
We take a fixed 1 GHz activity rate, the conventional reference clock for 45 nm arithmetic, for
every circuit, so that: (a) circuits are compared by power alone, as the library ranks them;
(b) the exact 8-bit signed multiplier (``mul8s_1KV6``, 0.425 mW) costs 0.425 pJ per MAC, within
about 2x of Horowitz's 0.2 pJ for an 8-bit multiply at 45 nm (ISSCC 2014). The alternative,
each circuit's own critical-path delay as its period (``P * delay``; 0.63 pJ for 1KV6 at
1.48 ns), would also charge approximate circuits for their speed, which the library's Pareto
fronts (power vs error) do not rank; it changes every absolute figure by the delay and the
exact/approximate ratios by the delay ratio (0.9-1.1 for the signed 8-bit set).

Leakage is a fraction of the circuit's own power (an assumption, see
:class:`xaigen.hardware.config.EnergyModel`): a smaller approximate circuit has fewer cells and
leaks proportionally less.
"""

from __future__ import annotations

CHARACTERIZATION_PERIOD_NS = 1.0  # assumed EvoApproxLib characterization clock: 1 GHz (see above)


def multiplier_energy_per_mac_pj(power_mw: float) -> float:
    """Dynamic energy (pJ) of one multiplication by a circuit of published power ``power_mw`` (mW):
    ``power_mw * CHARACTERIZATION_PERIOD_NS`` (mW x ns = pJ), the same on every accelerator."""
    return power_mw * CHARACTERIZATION_PERIOD_NS


def leakage_mw(power_mw: float, static_fraction: float) -> float:
    """Leakage power (mW) of one MAC unit built around a circuit of power ``power_mw`` (mW)."""
    return static_fraction * power_mw
