"""Losses and discriminators by name: each class registers itself where it is defined.

A loss is an ``nn.Module`` called as ``loss(x_hat, x) -> scalar``; ``log_name`` is the key its
value is logged under (``train/<log_name>``; "rec" for the pixel / waveform distance). A
discriminator is an ``nn.Module`` returning logits, or ``(logits, features)`` lists;
``channels_arg`` names its input-channel argument, filled in from the tokenizer.

Building passes a loss only the shared arguments its constructor accepts (a modality offers e.g.
``sample_rate``; an image loss has no such argument and never sees it).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

__all__ = [
    "DISCRIMINATORS",
    "LOSSES",
    "build_discriminator_module",
    "build_loss",
    "register_discriminator",
    "register_loss",
]


@dataclass(frozen=True)
class Registered:
    cls: type[nn.Module]
    log_name: str = ""
    channels_arg: str = "channels"
    #: Modalities whose inputs the loss takes; empty: any layout.
    modalities: tuple[str, ...] = ()


#: Loss name -> entry: ``l1``, ``l2``, ``efflite0``, ``lpips``, ``mel``, ``stft``.
LOSSES: dict[str, Registered] = {}
#: Discriminator name -> entry: ``patchgan``; audio ``mpd``, ``msd``, ``msstft``, ``mrd``.
DISCRIMINATORS: dict[str, Registered] = {}


def _register(table: dict[str, Registered], kind: str, name: str, entry: Registered) -> None:
    old = table.get(name)
    if old is not None and old.cls.__qualname__ != entry.cls.__qualname__:
        raise ValueError(f"{kind} {name!r} is already registered by {old.cls.__qualname__}")
    table[name] = entry


def register_loss(
    name: str, *, log_name: str | None = None, modalities: tuple[str, ...] = ()
) -> Callable[[type], type]:
    """Class decorator: register a loss module under ``name`` (logged as ``log_name``), for the
    inputs of ``modalities`` (empty: any)."""

    def wrap(cls: type) -> type:
        entry = Registered(cls, log_name or name, modalities=tuple(modalities))
        _register(LOSSES, "loss", name, entry)
        return cls

    return wrap


def register_discriminator(
    name: str, *, channels_arg: str = "channels", modalities: tuple[str, ...] = ()
) -> Callable[[type], type]:
    """Class decorator: register a discriminator under ``name`` for ``modalities``."""

    def wrap(cls: type) -> type:
        entry = Registered(cls, channels_arg=channels_arg, modalities=tuple(modalities))
        _register(DISCRIMINATORS, "discriminator", name, entry)
        return cls

    return wrap


def _accepted(cls: type, shared: Mapping[str, Any]) -> dict[str, Any]:
    params = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in shared.items() if k in params}


def build_loss(name: str, args: Mapping[str, Any] | None = None, **shared: Any) -> nn.Module:
    """Build loss ``name`` with its own ``args`` plus the ``shared`` arguments it accepts."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(LOSSES)}")
    cls = LOSSES[name].cls
    return cls(**{**_accepted(cls, shared), **dict(args or {})})


def build_discriminator_module(
    name: str, args: Mapping[str, Any] | None = None, *, channels: int
) -> nn.Module:
    """Build discriminator ``name`` for inputs of ``channels`` channels."""
    if name not in DISCRIMINATORS:
        raise ValueError(f"unknown discriminator {name!r}; choose from {sorted(DISCRIMINATORS)}")
    entry = DISCRIMINATORS[name]
    kw = dict(args or {})
    kw.setdefault(entry.channels_arg, channels)
    return entry.cls(**kw)
