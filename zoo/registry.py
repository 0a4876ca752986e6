"""The tokenizer registry: named variants, ``family_variant.tag`` names, pretrained configs.

A variant is a small function at the bottom of its family file that returns a tokenizer built
from keyword-only, JSON-able arguments; registering it makes it available by name::

    @register_tokenizer(pretrained_cfgs={"in1k_256": PretrainedCfg(hub_id="org/repo", ...)})
    def titok_s128_vq(**kwargs) -> Tokenizer:
        return _create_titok("titok_s128_vq", **dict(model_args, **kwargs))

Names are ``family_variant`` for an architecture and ``family_variant.tag`` for a set of weights
of it (the tag names the weights: ``titok_l32.in1k_256``). Pretrained weights are described by a
:class:`PretrainedCfg` (where the weights live, license, paper, data, measured metrics), kept
apart from the architecture arguments. Tags are attached either with the ``pretrained_cfgs``
argument of :func:`register_tokenizer` or later with :func:`register_pretrained`; the first tag
registered for an architecture is its default.

``create_tokenizer(name)`` builds an architecture with random weights (``pretrained=True`` loads
the tag's weights); :func:`zoo.load` is the front door that also takes local folders and
``hf-hub:`` ids.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from zoo.pretrained import Converter, PretrainedCfg, load_pretrained_weights
from zoo.tokenizers.base import Tokenizer

_TOKENIZERS: dict[str, Callable[..., Tokenizer]] = {}
_PRETRAINED: dict[str, dict[str, PretrainedCfg]] = {}


def split_name_tag(name: str) -> tuple[str, str | None]:
    """``"titok_l32.in1k_256" -> ("titok_l32", "in1k_256")``; no tag gives ``(name, None)``."""
    arch, sep, tag = name.partition(".")
    return arch, (tag if sep else None)


def register_tokenizer(
    fn: Callable[..., Tokenizer] | None = None,
    *,
    name: str | None = None,
    pretrained_cfgs: dict[str, PretrainedCfg] | None = None,
) -> Any:
    """Register a variant function under its ``__name__`` (or ``name``).

    Usable bare (``@register_tokenizer``) or with arguments
    (``@register_tokenizer(pretrained_cfgs={"tag": PretrainedCfg(...)})``). Registering a name
    again replaces the entry with a warning (as timm does), so a reloaded module keeps working.
    """

    def wrap(f: Callable[..., Tokenizer]) -> Callable[..., Tokenizer]:
        arch = name or f.__name__
        if "." in arch or not arch:
            raise ValueError(f"register_tokenizer: name {arch!r} must be non-empty and have no '.'")
        if arch in _TOKENIZERS and _TOKENIZERS[arch] is not f:
            warnings.warn(
                f"register_tokenizer: {arch!r} is already registered (by "
                f"{_TOKENIZERS[arch].__module__}); replacing it with {f.__module__}.{f.__name__}",
                stacklevel=2,
            )
        _TOKENIZERS[arch] = f
        _PRETRAINED[arch] = {}
        for tag, cfg in (pretrained_cfgs or {}).items():
            register_pretrained(f"{arch}.{tag}", cfg)
        return f

    return wrap(fn) if fn is not None else wrap


def register_pretrained(name_with_tag: str, cfg: PretrainedCfg) -> None:
    """Attach weights ``cfg`` to a registered architecture under ``"arch.tag"``."""
    arch, tag = split_name_tag(name_with_tag)
    if not tag:
        raise ValueError(f"register_pretrained: expected 'arch.tag', got {name_with_tag!r}")
    if not isinstance(cfg, PretrainedCfg):
        raise TypeError(f"register_pretrained: expected a PretrainedCfg, got {type(cfg).__name__}")
    _get_entrypoint(arch)
    if tag in _PRETRAINED[arch]:
        warnings.warn(f"register_pretrained: replacing weights of {name_with_tag!r}", stacklevel=2)
    _PRETRAINED[arch][tag] = cfg


def unregister_tokenizer(name: str) -> None:
    """Remove an architecture and its tags (tests and interactive use)."""
    arch, _ = split_name_tag(name)
    _get_entrypoint(arch)
    del _TOKENIZERS[arch]
    del _PRETRAINED[arch]


def is_tokenizer(name: str) -> bool:
    """Whether ``name`` (with or without tag) names a registered architecture."""
    return split_name_tag(name)[0] in _TOKENIZERS


def list_tokenizers(pattern: str | Iterable[str] = "*", pretrained: bool = False) -> list[str]:
    """Registered names matching ``pattern`` (fnmatch, or a list of patterns), sorted.

    With ``pretrained=False`` architectures (``family_variant``); with ``pretrained=True`` only
    names that have weights, as ``family_variant.tag`` (one entry per tag). A pattern without a
    ``.`` also matches an architecture's tags, so ``list_tokenizers("titok*", pretrained=True)``
    lists every TiTok checkpoint.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    if pretrained:
        names = [f"{a}.{t}" for a, tags in _PRETRAINED.items() for t in tags]
    else:
        names = list(_TOKENIZERS)

    def match(n: str) -> bool:
        return any(
            fnmatch.fnmatchcase(n, p) or ("." not in p and fnmatch.fnmatchcase(n.split(".")[0], p))
            for p in patterns
        )

    return sorted(n for n in names if match(n))


def list_pretrained_tags(name: str) -> list[str]:
    """Tags registered for architecture ``name``, default tag first."""
    arch = split_name_tag(name)[0]
    _get_entrypoint(arch)
    return list(_PRETRAINED[arch])


def get_pretrained_cfg(name: str) -> tuple[str, PretrainedCfg]:
    """``(tag, cfg)`` for ``"arch.tag"``, or for the default (first) tag of ``"arch"``.

    Raises ValueError naming the registered tags, or saying that the architecture has no
    weights (use ``create_tokenizer`` for random initialisation).
    """
    arch, tag = split_name_tag(name)
    _get_entrypoint(arch)
    tags = _PRETRAINED[arch]
    if tag is None:
        if not tags:
            raise ValueError(
                f"tokenizer {arch!r} has no pretrained weights registered; build it with random "
                f"weights with zoo.create_tokenizer({arch!r}), or load a folder or "
                "'hf-hub:org/repo'."
            )
        tag = next(iter(tags))
    if tag not in tags:
        known = ", ".join(f"{arch}.{t}" for t in tags) or "none"
        raise ValueError(
            f"{arch}.{tag!s}: tokenizer {arch!r} has no weights tagged {tag!r}; registered: "
            f"{known}."
        )
    return tag, tags[tag]


def create_tokenizer(
    name: str,
    pretrained: bool = False,
    checkpoint_path: str | os.PathLike | None = None,
    **overrides: Any,
) -> Tokenizer:
    """Build a registered tokenizer.

    Args:
        name: ``family_variant`` or ``family_variant.tag``.
        pretrained: load the weights of the tag (or of the default tag when ``name`` has none),
            strictly; the model is returned in eval mode. Otherwise weights are random and the
            tag, if given, only selects ``tok.pretrained_cfg``.
        checkpoint_path: with ``pretrained=True``, read the tag's weights from this local file or
            folder instead of downloading them: the upstream checkpoint exactly as upstream
            publishes it (converted on load, then cached) for tags with a converter, else a
            ``model.safetensors`` or ``save_pretrained`` folder in this project's format.
        overrides: constructor arguments replacing the variant's defaults.

    Sets ``tok.architecture`` (the name without tag, written to ``config.json``) and
    ``tok.pretrained_cfg``.
    """
    if not isinstance(name, str):
        raise TypeError(f"create_tokenizer: expected a name string, got {type(name).__name__}")
    arch, tag = split_name_tag(name)
    fn = _get_entrypoint(arch)
    if checkpoint_path is not None and not pretrained:
        raise ValueError(
            f"create_tokenizer({name!r}): checkpoint_path is where pretrained weights are read "
            "from; pass pretrained=True (or use zoo.load) to load it"
        )
    cfg = None
    if tag is not None or pretrained:
        tag, cfg = get_pretrained_cfg(name)
    try:
        tok = fn(**overrides)
    except TypeError as err:
        raise TypeError(f"create_tokenizer({name!r}, ...): {err}") from err
    if not isinstance(tok, Tokenizer):
        raise TypeError(
            f"create_tokenizer({name!r}): variant {fn.__module__}.{fn.__name__} returned a "
            f"{type(tok).__name__}, expected a zoo Tokenizer"
        )
    tok.architecture = arch
    tok.pretrained_cfg = cfg
    if pretrained:
        assert cfg is not None
        load_pretrained_weights(
            tok,
            cfg,
            name=f"{arch}.{tag}",
            module=sys.modules[fn.__module__],
            checkpoint_path=checkpoint_path,
        )
        tok.eval()
    return tok


def _get_entrypoint(arch: str) -> Callable[..., Tokenizer]:
    if arch not in _TOKENIZERS:
        raise ValueError(unknown_name_message(arch))
    return _TOKENIZERS[arch]


def unknown_name_message(name: str) -> str:
    """Error text for an unregistered name, with the closest registered names."""
    arch = split_name_tag(name)[0]
    close = difflib.get_close_matches(arch, list(_TOKENIZERS), n=5, cutoff=0.5)
    if close:
        hint = f" Closest registered names: {', '.join(close)}."
    else:
        hint = f" {len(_TOKENIZERS)} names are registered; see zoo.list_tokenizers()."
    return f"unknown tokenizer {name!r}.{hint}"


__all__ = [
    "Converter",
    "PretrainedCfg",
    "create_tokenizer",
    "get_pretrained_cfg",
    "is_tokenizer",
    "list_pretrained_tags",
    "list_tokenizers",
    "register_pretrained",
    "register_tokenizer",
    "split_name_tag",
    "unknown_name_message",
    "unregister_tokenizer",
]
