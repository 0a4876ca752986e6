"""A training criterion assembled by name: a weighted sum of registered losses, and a set of
registered discriminators judged together."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from zoo.losses.registry import DISCRIMINATORS, LOSSES, build_discriminator_module, build_loss

__all__ = ["Criterion", "DiscriminatorSet", "build_discriminator", "judge", "parse_loss_spec"]


def parse_loss_spec(name: str, spec: Any) -> tuple[float, dict[str, Any]]:
    """``weight`` or ``{"weight": w, **constructor args}`` -> ``(weight, args)``."""
    if isinstance(spec, bool) or not isinstance(spec, int | float | Mapping):
        raise TypeError(f"loss {name!r}: expected a weight or {{weight: w, <args>}}, got {spec!r}")
    if isinstance(spec, Mapping):
        args = dict(spec)
        weight = args.pop("weight", 1.0)
    else:
        weight, args = spec, {}
    weight = float(weight)
    if not weight >= 0.0:  # also refuses NaN
        raise ValueError(f"loss {name!r}: weight must be >= 0, got {weight}")
    return weight, args


class Criterion(nn.Module):
    """``criterion(x_hat, x) -> {log name: value, ..., "nll": weighted sum}``.

    Args:
        losses: ``{name: weight or {"weight": w, **args}}`` over :data:`zoo.losses.LOSSES`.
            A weight of 0 computes and logs the loss without training on it.
        report: losses computed and logged at weight 0 when ``losses`` lacks them (e.g. the mel
            distance of every audio run).
        shared: arguments offered to every loss that accepts them (``sample_rate``).
    """

    def __init__(
        self,
        losses: Mapping[str, Any],
        *,
        report: Mapping[str, Any] | None = None,
        shared: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        specs = dict(report or {})
        specs.update(losses)
        unknown = sorted(set(specs) - set(LOSSES))
        if unknown:
            raise ValueError(f"Criterion: unknown loss(es) {unknown}; choose from {sorted(LOSSES)}")
        self.weights: dict[str, float] = {}
        self.log_names: dict[str, str] = {}
        terms = {}
        for name, spec in specs.items():
            weight, args = parse_loss_spec(name, spec)
            terms[name] = build_loss(name, args, **dict(shared or {}))
            self.weights[name] = weight
            self.log_names[name] = LOSSES[name].log_name
        clash = [
            n for n in set(self.log_names.values()) if list(self.log_names.values()).count(n) > 1
        ]
        if clash:
            raise ValueError(
                f"Criterion: losses {sorted(self.log_names)} log under the same name {clash}; "
                "use one of them"
            )
        self.terms = nn.ModuleDict(terms)

    def __contains__(self, name: str) -> bool:
        return name in self.terms

    def forward(self, x_hat: Tensor, x: Tensor) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        nll = x_hat.new_zeros(())
        for name, term in self.terms.items():
            value = term(x_hat, x)
            out[self.log_names[name]] = value
            if self.weights[name]:
                nll = nll + self.weights[name] * value
        out["nll"] = nll
        return out


class DiscriminatorSet(nn.Module):
    """Several discriminators judged together: their sub-discriminator logits and feature lists
    concatenated, ``(list[Tensor], list[list[Tensor]])``."""

    def __init__(self, discriminators: dict[str, nn.Module]) -> None:
        super().__init__()
        self.discriminators = nn.ModuleDict(discriminators)

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        logits: list[Tensor] = []
        features: list[list[Tensor]] = []
        for d in self.discriminators.values():
            lg, ft = judge(d, x)
            logits.extend(lg)
            features.extend(ft or [])
        return logits, features


def judge(disc: nn.Module, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]] | None]:
    """Normalise discriminator outputs: a logits tensor (PatchGAN) or ``(logits, features)``."""
    out = disc(x)
    if isinstance(out, Tensor):
        return [out], None
    logits, features = out
    return list(logits), list(features)


def build_discriminator(
    names: list[str], *, channels: int, args: Mapping[str, Mapping[str, Any]] | None = None
) -> nn.Module:
    """One discriminator (a single name) or a :class:`DiscriminatorSet` over ``names``;
    ``args`` maps a name to its constructor arguments (the input channels are filled in)."""
    args = dict(args or {})
    unknown = [n for n in [*names, *args] if n not in DISCRIMINATORS]
    if unknown:
        raise ValueError(
            f"TokenizerModule: unknown discriminator(s) {unknown}; choose from "
            f"{sorted(DISCRIMINATORS)}"
        )
    modules = {n: build_discriminator_module(n, args.get(n), channels=channels) for n in names}
    return modules[names[0]] if len(names) == 1 else DiscriminatorSet(modules)
