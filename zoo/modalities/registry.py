"""The modality registry: one small object per modality owns everything that differs between
images, audio (and video next) after the tokenizer itself.

A tokenizer names its modality with the class attribute ``modality`` (a string); training
(:class:`zoo.training.TokenizerModule`), ``train.py``, the ``eval/`` runners and the reports ask
``get_modality(tokenizer.modality)`` and contain no modality branches. A new modality is one file
that subclasses :class:`Modality` and calls :func:`register_modality`, plus one import line in
``zoo/modalities/__init__.py`` (or an import of that file by whoever uses it).

What a modality owns:

* **input layout** -- ``layout`` for messages; the size axes themselves are the tokenizer
  family's (``Tokenizer.input_axes``) so tokenizers never import this layer;
* **training** -- the default criterion (losses by name from :mod:`zoo.losses`), the default
  discriminators (names from :data:`zoo.losses.DISCRIMINATORS`), the headline quality metric of
  a batch, the rate points validation also measures (tokens for images, codebooks for audio) and
  how examples are logged, plus the check that a data module matches the tokenizer;
* **evaluation** -- the rate axis (``rate_option``: the ``tokenize`` keyword; ``rate_unit``: bpp
  or kbps), and an ``evaluator`` from :mod:`zoo.evaluation` (data, metrics, the classical
  baseline, result tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor
from torchvision.utils import make_grid, save_image

from zoo.metrics import psnr

__all__ = [
    "Modality",
    "get_modality",
    "list_modalities",
    "log_image_grid",
    "psnr_at_tokens",
    "register_modality",
    "token_count_rates",
]


class Modality:
    """Base class of a modality; subclass it, fill the class attributes, override the hooks.

    The hooks receive the tokenizer (and, for logging, the Lightning module), never a modality
    name, so callers need no ``if``: they call the hook of ``get_modality(tokenizer.modality)``.
    """

    #: Registry name, equal to the tokenizers' ``modality`` attribute: ``"image"``, ``"audio"``.
    name: ClassVar[str] = ""
    #: Batch layout, for messages: ``"(B, 3, H, W)"``.
    layout: ClassVar[str] = ""
    #: The ``tokenize`` keyword of the rate axis (``"num_tokens"``, ``"num_codebooks"``) and its
    #: unit in results (``"bpp"``, ``"kbps"``).
    rate_option: ClassVar[str] = ""
    rate_unit: ClassVar[str] = ""
    #: Criterion when a recipe names none: ``{loss name: weight or {"weight": w, **args}}``,
    #: names from :data:`zoo.losses.LOSSES`.
    default_losses: ClassVar[dict[str, Any]] = {"l1": 1.0}
    #: Losses that validation always reports, at weight 0 when the criterion lacks them.
    validation_losses: ClassVar[dict[str, Any]] = {}
    #: Discriminators when a recipe says ``"auto"`` (names from :data:`zoo.losses.DISCRIMINATORS`).
    default_discriminators: ClassVar[tuple[str, ...]] = ()
    #: Memory format training keeps the tokenizer's weights and batches in (None: as built),
    #: e.g. ``torch.channels_last`` where it measures faster (benchmarks/training.py).
    memory_format: ClassVar[Any] = None
    #: The evaluator of ``eval/reconstruct.py`` and ``eval/rate_distortion.py`` (an object from
    #: :mod:`zoo.evaluation`); None: the modality trains but has no evaluation yet.
    evaluator: ClassVar[Any] = None

    # ------------------------------------------------------------------ training
    def loss_args(self, tokenizer: Any) -> dict[str, Any]:
        """Arguments every loss of this modality receives when it accepts them (e.g. the
        tokenizer's ``sample_rate`` for spectral losses)."""
        return {}

    def quality(self, x_hat: Tensor, x: Tensor) -> tuple[str, Tensor]:
        """The headline per-batch quality metric: ``(key, value)``, e.g. ``("psnr", dB)``."""
        # Abstract: every modality names its headline metric (training logs it every step).
        raise NotImplementedError(f"modality {self.name!r} defines no quality metric")

    def validation_rates(self, tokenizer: Any, requested: Sequence[int] | None) -> list[int]:
        """Rate points (values of ``rate_option``) at which validation also measures quality;
        ``requested`` is the recipe's list (None: the modality's default). [] for none."""
        return []

    def rate_quality(
        self, tokenizer: Any, x: Tensor, rate: int, losses: dict[str, Any]
    ) -> tuple[str, Tensor, Tensor | None]:
        """Quality of ``x`` coded at ``rate``: ``(log key, value, reconstruction to show or
        None)``. ``losses`` holds the criterion's built loss modules by name."""
        # Only called for the points validation_rates returns, which is [] by default.
        raise NotImplementedError(f"modality {self.name!r} has no rate axis")

    def log_examples(self, module: Any, x: Tensor, rows: list[Tensor]) -> None:
        """Write what a person checks at validation: ``rows[0]`` the originals, then
        reconstructions (full, then each validation rate that differs)."""

    def check_datamodule(self, tokenizer: Any, datamodule: Any) -> None:
        """Raise ValueError when a data module declares settings the tokenizer cannot take."""


def token_count_rates(tokenizer: Any, requested: Sequence[int] | None) -> list[int]:
    """Validation token counts of a flexible-length tokenizer (default K/8, K/4, K/2, K); none
    for fixed-length ones. Shared by the modalities whose rate axis is the token count."""
    if not tokenizer.flexible_length:
        return []
    k = tokenizer.num_tokens
    counts = requested if requested is not None else [k // 8, k // 4, k // 2, k]
    bad = [c for c in counts if not 1 <= int(c) <= k]
    if bad and requested is not None:
        raise ValueError(
            f"validation rates (token counts) {bad} outside [1, {k}] for {tokenizer.architecture!r}"
        )
    return sorted({max(1, int(c)) for c in counts})


def psnr_at_tokens(tokenizer: Any, x: Tensor, rate: int) -> tuple[str, Tensor, Tensor | None]:
    """PSNR of ``x`` coded with its first ``rate`` tokens, and that reconstruction to show (None
    at full length, which validation shows anyway)."""
    x_k = tokenizer.detokenize(tokenizer.tokenize(x, num_tokens=rate))
    shown = x_k if rate != tokenizer.num_tokens else None
    return f"psnr@{rate}", psnr(x_k, x).mean(), shown


def log_image_grid(module: Any, images: Tensor, nrow: int) -> None:
    """Images in [-1, 1] as one grid (``nrow`` per row) at validation: to the logger's
    ``log_image`` (e.g. W&B) or ``add_image`` (TensorBoard), else a PNG under the log dir."""
    trainer = module.trainer
    # trainer.log_dir is a collective call (it broadcasts from rank 0): every rank must ask.
    root = trainer.log_dir or trainer.default_root_dir
    if not trainer.is_global_zero:
        return
    grid = make_grid((images.clamp(-1, 1) + 1) / 2, nrow=nrow, padding=2, pad_value=1.0).cpu()
    step, tag, logged = int(module.step_count), "val/reconstructions", False
    for logger in module.loggers:
        experiment = getattr(logger, "experiment", None)
        if hasattr(logger, "log_image"):
            logger.log_image(key=tag, images=[grid], step=step)
            logged = True
        elif hasattr(experiment, "add_image"):
            experiment.add_image(tag, grid, step)
            logged = True
    if not logged:
        path = Path(root) / "images" / f"reconstructions_step{step:08d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, path)


_MODALITIES: dict[str, Modality] = {}


def register_modality(modality: type[Modality] | Modality) -> Any:
    """Register a :class:`Modality` subclass (usable as a class decorator) or instance under its
    ``name``. Registering a name twice replaces the entry only for the same class."""
    instance = modality() if isinstance(modality, type) else modality
    if not isinstance(instance, Modality):
        raise TypeError(
            f"register_modality: expected a Modality subclass or instance, got "
            f"{type(instance).__name__}"
        )
    name = instance.name
    if not name or not isinstance(name, str):
        raise ValueError(f"register_modality: {type(instance).__name__}.name must be set")
    old = _MODALITIES.get(name)
    if old is not None and type(old).__qualname__ != type(instance).__qualname__:
        raise ValueError(
            f"register_modality: {name!r} is already registered by {type(old).__qualname__}"
        )
    _MODALITIES[name] = instance
    return modality


def get_modality(which: Any) -> Modality:
    """The registered modality of a name, a tokenizer (its ``modality``) or a modality itself."""
    if isinstance(which, Modality):
        return which
    name = which if isinstance(which, str) else getattr(which, "modality", None)
    if name not in _MODALITIES:
        what = repr(which) if isinstance(which, str) else type(which).__name__
        raise KeyError(
            f"no modality {name!r} registered (for {what}); registered: "
            f"{sorted(_MODALITIES)}. A new modality subclasses zoo.modalities.Modality and "
            "calls register_modality in its own file."
        )
    return _MODALITIES[name]


def list_modalities() -> list[str]:
    return sorted(_MODALITIES)
