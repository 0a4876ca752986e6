"""Type checks of tokenizer constructor arguments against their annotations.

``config.json`` is JSON that people edit; a constructor that receives ``"16"`` where it declares
``int`` fails deep inside a layer (or, for ``ch_mult: "122"``, silently builds ``[1, 2, 2]``).
:func:`check_argument_types` runs in ``Tokenizer.__new__`` for every construction and names the
argument and its declared type instead.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from typing import Any

_HINTS: dict[type, dict[str, Any]] = {}
#: Bound on integer arguments (and the ints in list arguments): no size, depth or count of an
#: architecture comes near it, while a damaged config.json or a typo easily does -- and a depth
#: of 2**31 would build layers until memory runs out. Dict arguments (``quantizer_kwargs``) are
#: left to the quantizers' own checks.
MAX_INT_ARGUMENT = 2**31 - 1


def check_argument_types(cls: type, kwargs: dict[str, Any]) -> None:
    """TypeError naming the argument when a value does not have its annotated JSON type (a
    string where an int belongs, as a hand-edited config.json gives), before any layer sees it:
    ``"16"`` would otherwise fail deep inside a conv, and ``ch_mult: "122"`` would silently
    become ``[1, 2, 2]``. Annotations this check does not understand accept anything."""
    if cls not in _HINTS:
        try:
            _HINTS[cls] = typing.get_type_hints(cls.__init__)
        except Exception:  # unresolvable annotations: no check rather than a false alarm
            _HINTS[cls] = {}
    hints = _HINTS[cls]
    for key, value in kwargs.items():
        hint = hints.get(key)
        if hint is not None and not _matches(value, hint):
            raise TypeError(
                f"{cls.__name__}: argument {key!r} must be {_describe(hint)}, got {value!r} "
                f"({type(value).__name__})"
            )
        ints = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, int) and abs(v) > MAX_INT_ARGUMENT for v in ints):
            raise ValueError(
                f"{cls.__name__}: argument {key!r}={value!r} is beyond any size an architecture "
                f"is built with (integers up to {MAX_INT_ARGUMENT}); a typo, or a damaged "
                "config.json?"
            )


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON-like ``value`` fits the annotation ``hint`` (see _check_argument_types)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is typing.Literal:
        return value in args
    if origin in (list, collections.abc.Sequence):
        ok = isinstance(value, list | tuple)
        return ok and (not args or all(_matches(v, args[0]) for v in value))
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return not args or (
            len(args) == len(value)
            and all(_matches(v, a) for v, a in zip(value, args, strict=True))
        )
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            return False
        return len(args) != 2 or all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()
        )
    return True


def _describe(hint: Any) -> str:
    text = getattr(hint, "__name__", None) if typing.get_origin(hint) is None else None
    return text or str(hint).replace("typing.", "")
