"""What a recipe configures besides the tokenizer, as four small objects (LightningCLI reads them
from YAML as nested mappings): the criterion, the adversarial part, the optimiser and the EMA, plus
what validation measures.

```yaml
model:
  tokenizer: vqgan_cpu_f8
  criterion: {losses: {l1: 1.0, efflite0: 0.1}, quantizer_weight: 1.0}
  adversarial: {weight: 0.1, discriminators: [patchgan], start: 2000}
  optimizer: {lr: 1.0e-4, betas: [0.5, 0.9], warmup_steps: 500}
  ema: {decay: 0.999}
  validation: {rates: [8, 32], log_examples: 4}
```

Recipes written for the flat arguments of earlier versions (``lr:``, ``disc_weight:``, ...) are
refused with the same recipe in this spelling (:func:`migrate_legacy_arguments`, used by
``train.py``); checkpoints saved with flat arguments are migrated when loaded.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from zoo.losses import GAN_LOSSES

__all__ = [
    "LEGACY_ARGUMENTS",
    "AdversarialSpec",
    "CriterionSpec",
    "EMASpec",
    "OptimizerSpec",
    "ValidationSpec",
    "as_spec",
    "migrate_legacy_arguments",
]


@dataclass
class CriterionSpec:
    """``losses``: ``{name: weight or {weight: w, <constructor args>}}`` over
    ``zoo.losses.LOSSES`` (``l1``, ``l2``, ``efflite0``, ``lpips``, ``mel``, ``stft``); None: the
    modality's default (images: l1 + efflite0; audio: l1 + mel). ``quantizer_weight``: weight of
    the quantizer's own loss."""

    losses: dict[str, Any] | None = None
    quantizer_weight: float = 1.0


@dataclass
class AdversarialSpec:
    """The discriminator and its loss. ``weight`` 0 disables it entirely.

    ``discriminators``: ``"auto"`` (the modality's: PatchGAN for images, MPD + MS-STFT for audio),
    a name or a list of names from ``zoo.losses.DISCRIMINATORS`` (several are judged together,
    losses averaged over all their sub-discriminators); ``args``: per-name constructor arguments.
    ``start``: generator step at which it starts. ``loss``: ``hinge`` or ``nonsaturating``.
    ``lr``: its learning rate (default: the generator's). ``feature_matching_weight``: the
    discriminator feature-matching loss (discriminators that return features).
    ``adaptive_weight``: VQGAN's gradient-norm ratio at the decoder's last layer, clamped at
    ``adaptive_weight_max``."""

    weight: float = 0.1
    discriminators: str | list[str] = "auto"
    args: dict[str, dict[str, Any]] = field(default_factory=dict)
    start: int = 0
    loss: str = "hinge"
    lr: float | None = None
    feature_matching_weight: float = 0.0
    adaptive_weight: bool = True
    adaptive_weight_max: float = 1e4

    def __post_init__(self) -> None:
        if self.loss not in GAN_LOSSES:
            raise ValueError(
                f"TokenizerModule: adversarial.loss must be one of {GAN_LOSSES}, got {self.loss!r}"
            )
        if self.start < 0:
            raise ValueError(f"TokenizerModule: adversarial.start must be >= 0, got {self.start}")

    def names(self, default: tuple[str, ...]) -> list[str]:
        if self.discriminators == "auto":
            return list(default)
        d = self.discriminators
        return [d] if isinstance(d, str) else list(d)


@dataclass
class OptimizerSpec:
    """AdamW for the tokenizer (and the discriminator) with a warmup + cosine schedule.

    ``betas`` (VQGAN: (0.5, 0.9)); ``weight_decay`` on >= 2-d weights only; ``warmup_steps``
    in generator steps; ``total_steps`` of the cosine (None: from the trainer's max_steps or
    epochs; constant after warmup when neither is finite); ``min_lr_ratio`` final / peak LR;
    ``grad_clip`` max gradient norm (None or 0 disables); ``fused``: PyTorch's fused AdamW
    kernel (one pass over all parameters; ~10% faster steps on CPU, benchmarks/training.py), the
    default; false: the multi-tensor (foreach) one."""

    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    weight_decay: float = 1e-4
    warmup_steps: int = 1000
    total_steps: int | None = None
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0
    fused: bool = True

    def __post_init__(self) -> None:
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        if self.warmup_steps < 0:
            raise ValueError(
                f"TokenizerModule: optimizer.warmup_steps must be >= 0, got {self.warmup_steps}"
            )


@dataclass
class EMASpec:
    """EMA of the tokenizer weights (what gets exported): ``decay`` (None or 0: none; export the
    live model); ``validate``: validate (and log examples of) the EMA weights."""

    decay: float | None = 0.999
    validate: bool = True

    def __post_init__(self) -> None:
        if self.decay is not None and not 0.0 <= self.decay < 1.0:
            raise ValueError(f"TokenizerModule: ema_decay must lie in [0, 1), got {self.decay}")


@dataclass
class ValidationSpec:
    """``rates``: points on the modality's rate axis where validation also measures quality
    (token counts of flexible-length image tokenizers, default K/8, K/4, K/2, K; codebook counts
    of audio codecs, default smallest / middle / largest); ``log_examples``: items shown at each
    validation (an image grid, WAV files); 0 disables."""

    rates: list[int] | None = None
    log_examples: int = 8


def as_spec(cls: type, value: Any) -> Any:
    """``value`` (None, a mapping, or an instance) as an instance of the dataclass ``cls``."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return copy.deepcopy(value)
    if isinstance(value, Mapping):
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(
                f"TokenizerModule: unknown {cls.__name__} field(s) {unknown}; fields: "
                f"{sorted(names)}"
            )
        return cls(**dict(value))
    raise TypeError(f"TokenizerModule: expected {cls.__name__} or a mapping, got {value!r}")


def spec_dict(spec: Any) -> dict[str, Any]:
    """JSON-able dict of a spec, for hyperparameters (checkpoints load with weights_only)."""
    out = asdict(spec)
    for k, v in out.items():
        if isinstance(v, tuple):
            out[k] = list(v)
    return out


# --------------------------------------------------------------------------- old flat arguments
#: Flat argument of earlier versions -> its place now (``section.field``).
LEGACY_ARGUMENTS: dict[str, str] = {
    "lr": "optimizer.lr",
    "betas": "optimizer.betas",
    "weight_decay": "optimizer.weight_decay",
    "warmup_steps": "optimizer.warmup_steps",
    "total_steps": "optimizer.total_steps",
    "min_lr_ratio": "optimizer.min_lr_ratio",
    "grad_clip": "optimizer.grad_clip",
    "recon_loss": "criterion.losses.<l1 | l2>",
    "recon_weight": "criterion.losses.<l1 | l2> (its weight)",
    "perceptual_loss": "criterion.losses.<efflite0 | lpips>",
    "perceptual_weight": "criterion.losses.<efflite0 | lpips> (its weight)",
    "perceptual_args": "criterion.losses.<efflite0 | lpips> (its arguments)",
    "mel_weight": "criterion.losses.mel",
    "stft_weight": "criterion.losses.stft",
    "spectral_args": "criterion.losses.mel / criterion.losses.stft (their arguments)",
    "quantizer_weight": "criterion.quantizer_weight",
    "disc_weight": "adversarial.weight",
    "disc_start": "adversarial.start",
    "disc_loss": "adversarial.loss",
    "disc_lr": "adversarial.lr",
    "discriminator": "adversarial.discriminators",
    "discriminator_args": "adversarial.args",
    "feature_matching_weight": "adversarial.feature_matching_weight",
    "disc_channels": "adversarial.args.patchgan.channels",
    "disc_layers": "adversarial.args.patchgan.num_layers",
    "disc_norm": "adversarial.args.patchgan.norm",
    "adaptive_disc_weight": "adversarial.adaptive_weight",
    "adaptive_weight_max": "adversarial.adaptive_weight_max",
    "ema_decay": "ema.decay",
    "validate_ema": "ema.validate",
    "eval_num_tokens": "validation.rates",
    "eval_num_codebooks": "validation.rates",
    "log_images": "validation.log_examples",
}

#: Renamed one to one (the others are handled field by field below).
_SIMPLE = {
    k: v
    for k, v in LEGACY_ARGUMENTS.items()
    if v.count(".") == 1 and "<" not in v and "/" not in v
    and k not in ("discriminator_args", "eval_num_tokens", "eval_num_codebooks")
}


def migrate_legacy_arguments(
    model: Mapping[str, Any], default_losses: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``model:`` section of a recipe (or a checkpoint's hyperparameters) with flat arguments
    of earlier versions moved to their sections; the behaviour is the same. ``default_losses``:
    the tokenizer's modality's default criterion, which the old ``"auto"`` values meant."""
    old = dict(model)
    new: dict[str, Any] = {k: copy.deepcopy(v) for k, v in old.items() if k not in LEGACY_ARGUMENTS}
    sections: dict[str, dict[str, Any]] = {
        s: dict(new.pop(s, None) or {}) for s in ("criterion", "adversarial", "optimizer", "ema")
    }
    sections["validation"] = dict(new.pop("validation", None) or {})
    for key, place in _SIMPLE.items():
        if key in old:
            section, name = place.split(".")
            sections[section][name] = old[key]
    if "discriminator" in old:
        sections["adversarial"]["discriminators"] = old["discriminator"]
    if "discriminator_args" in old and old["discriminator_args"]:
        sections["adversarial"]["args"] = copy.deepcopy(old["discriminator_args"])
    patch = {
        field_: old[key]
        for key, field_ in (
            ("disc_channels", "channels"),
            ("disc_layers", "num_layers"),
            ("disc_norm", "norm"),
        )
        if key in old
    }
    if patch:
        args = sections["adversarial"].setdefault("args", {})
        args["patchgan"] = {**patch, **args.get("patchgan", {})}
    for key in ("eval_num_tokens", "eval_num_codebooks"):
        if old.get(key) is not None:
            sections["validation"]["rates"] = list(old[key])
    if "log_images" in old:
        sections["validation"]["log_examples"] = old["log_images"]

    criterion_keys = {
        "recon_loss", "recon_weight", "perceptual_loss", "perceptual_weight", "perceptual_args",
        "mel_weight", "stft_weight", "spectral_args",
    }  # fmt: skip
    if criterion_keys & set(old):
        sections["criterion"]["losses"] = _legacy_losses(old, default_losses)
    return {**new, **{k: v for k, v in sections.items() if v}}


def _legacy_losses(old: Mapping[str, Any], default: Mapping[str, Any]) -> dict[str, Any]:
    default = dict(default)
    losses: dict[str, Any] = {}
    rec = old.get("recon_loss", "l1")
    losses[rec] = float(old.get("recon_weight", 1.0))
    perceptual = old.get("perceptual_loss", "auto")
    if perceptual == "auto":
        perceptual = next((n for n in ("efflite0", "lpips") if n in default), None)
    weight = float(old.get("perceptual_weight", 1.0))
    if perceptual and weight > 0:
        args = dict(old.get("perceptual_args") or {})
        losses[perceptual] = {"weight": weight, **args} if args else weight
    spectral = dict(old.get("spectral_args") or {})
    mel = old.get("mel_weight")
    mel = (1.0 if "mel" in default else 0.0) if mel is None else float(mel)
    if mel > 0:
        losses["mel"] = {"weight": mel, **spectral["mel"]} if spectral.get("mel") else mel
    elif spectral.get("mel"):
        losses["mel"] = {"weight": 0.0, **spectral["mel"]}  # still reported at validation
    stft = float(old.get("stft_weight", 0.0))
    if stft > 0:
        losses["stft"] = {"weight": stft, **spectral["stft"]} if spectral.get("stft") else stft
    return losses
