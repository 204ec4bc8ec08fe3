"""Per-layer relevance of a trained (float) model with Captum's layer-attribution methods.

For a method ``A``, a layer ``l`` with output neurons ``j`` and a sample of inputs ``x_n`` with
labels ``c_n``, the attribution ``A_{n,j}`` of neuron ``j`` to the logit of class ``c_n`` is
aggregated into one score per layer:

    R_l = (1 / N) sum_n sum_j |A_{n,j}(x_n, c_n)|            (L1 attribution mass of the layer)
    score_l = R_l / sum_l' R_l'                                 (normalised: sums to 1)

A high score means the prediction leans on that layer's outputs (critical); a low score marks a
layer that can take aggressive approximation. Baselines (for IG, Conductance, DeepLift) are
all-zero inputs, which is the data mean after normalisation.

``noise_sensitivity`` is our addition, derived for what an approximate multiplier does: it adds
to every output of layer ``l`` a noise of roughly constant size ``sigma_l ~ rel_err * RMS(z_l)``,
which moves the class logit by about ``sigma_l * sum_j |d y_c / d z_j|``. So

    R_l = RMS_n,j(z_{n,j}) * (1 / N) sum_n sum_j |d y_{c_n} / d z_{n,j}|

(Captum's layer gradient, i.e. LayerGradientXActivation without the multiplication by inputs).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from xaigen.emulation import approximable_layers

METHODS = ("conductance", "integrated_gradients", "deeplift", "gradient_x_activation", "lrp", "noise_sensitivity")


@dataclass(frozen=True)
class LayerRelevance:
    """Normalised relevance per layer for one method (or the reason it could not run)."""

    method: str
    scores: dict[str, float]
    error: str | None = None


def _attributor(method: str, model: nn.Module, layer: nn.Module):
    from captum.attr import (
        LayerConductance,
        LayerDeepLift,
        LayerGradientXActivation,
        LayerIntegratedGradients,
        LayerLRP,
    )

    return {
        "conductance": lambda: LayerConductance(model, layer),
        "integrated_gradients": lambda: LayerIntegratedGradients(model, layer),
        "deeplift": lambda: LayerDeepLift(model, layer),
        "gradient_x_activation": lambda: LayerGradientXActivation(model, layer),
        "noise_sensitivity": lambda: LayerGradientXActivation(model, layer, multiply_by_inputs=False),
        "lrp": lambda: LayerLRP(model, layer),
    }[method]()


def _attribute(method: str, attributor, x: torch.Tensor, target: torch.Tensor, steps: int) -> torch.Tensor:
    if method in ("conductance", "integrated_gradients"):
        attr = attributor.attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=steps)
    elif method == "deeplift":
        attr = attributor.attribute(x, baselines=torch.zeros_like(x), target=target)
    else:
        attr = attributor.attribute(x, target=target)
    return attr[0] if isinstance(attr, tuple) else attr


@torch.no_grad()
def _output_rms(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> float:
    """Root-mean-square of ``layer``'s output over the sample."""
    total, count = 0.0, 0
    def hook(_m, _a, out):
        nonlocal total, count
        total += float((out.double() ** 2).sum())
        count += out.numel()
    handle = layer.register_forward_hook(hook)
    try:
        model(x)
    finally:
        handle.remove()
    return (total / max(count, 1)) ** 0.5


def layer_relevance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, methods: Sequence[str] = METHODS,
                    steps: int = 16, batch_size: int = 64) -> list[LayerRelevance]:
    """Relevance scores of every Conv2d/Linear layer for each method in ``methods``.

    A method that cannot handle the model (e.g. LRP on a module type without a rule) is reported
    with its error instead of stopping the others.
    """
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        from xaigen.errors import InputError

        raise InputError("xai.methods", f"unknown method(s) {', '.join(unknown)}; expected {', '.join(METHODS)}")
    results = []
    for method in methods:
        work = copy.deepcopy(model).eval()  # LRP and DeepLift attach hooks and attributes
        mass = {name: 0.0 for name in approximable_layers(work)}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for name, layer in approximable_layers(work).items():
                    attributor = _attributor(method, work, layer)
                    for start in range(0, len(x), batch_size):
                        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
                        attr = _attribute(method, attributor, xb, yb, steps)
                        mass[name] += float(attr.detach().abs().reshape(len(xb), -1).sum())
                    if method == "noise_sensitivity":
                        mass[name] *= _output_rms(work, layer, x)
        except Exception as exc:  # a Captum limitation for this model, not a user error
            results.append(LayerRelevance(method, {}, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"))
            continue
        total = sum(mass.values()) or 1.0
        results.append(LayerRelevance(method, {name: v / total for name, v in mass.items()}))
    return results
