"""The metric registry: every metric class registers itself, and tables, CLI defaults, reports
and :func:`zoo.metrics.create_metrics` read it. Nothing lists metrics by hand.

A metric is a ``torchmetrics.Metric`` subclass decorated with :func:`register_metric`; it
declares, as class attributes,

- ``key`` (machine name, e.g. ``"psnr"``), ``label`` (how tables print it, ``"PSNR"``),
  ``higher_is_better`` and ``modality`` (``"image"``, ``"audio"``, ...);
- ``order``: its position in its modality's tables (smaller first; ties keep registration order);
- optionally ``default`` (computed when a run names no metrics), ``group`` (a shorthand that
  stands for every metric of the group, e.g. ``"dnsmos"``), ``needs_reference`` (False for
  no-reference metrics), ``weight_names`` (the keys of ``create_metrics(weights=...)`` it reads)
  and ``options`` (the other ``create_metrics`` keywords it reads, e.g. ``("sample_rate",)``);

and implements ``create(build: MetricBuild) -> Metric``, which builds one instance for one metric
set (sharing frozen networks through ``build.shared``).

A new modality's metrics register themselves in their own file (``zoo/metrics/<modality>.py``),
imported by whoever uses them (the modality in :mod:`zoo.modalities`); this module and
``zoo/metrics/__init__.py`` need no edit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from torchmetrics import Metric

__all__ = [
    "MetricBuild",
    "MetricInfo",
    "MetricKeys",
    "MetricTable",
    "build_metric_sets",
    "expand_metric_names",
    "list_metric_groups",
    "list_metric_modalities",
    "list_metrics",
    "metric_info",
    "register_metric",
]


@dataclass(frozen=True)
class MetricInfo:
    """What the registry knows of one metric (its class attributes)."""

    key: str
    label: str
    higher_is_better: bool
    modality: str
    cls: type[Metric]
    order: float = 0.0
    default: bool = False
    group: str | None = None
    needs_reference: bool = True
    weight_names: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass
class MetricBuild:
    """What a metric's ``create`` receives: the options of ``create_metrics`` plus caches.

    Attributes:
        weights: weight files by name (``create_metrics(weights=...)``), entries may be None.
        quantize: round float inputs to 8 bits first (images).
        sample_rate: of the clips (audio), None for the metric's default.
        shared: one dict per ``create_metrics`` call: frozen networks shared by every set.
        per_set: one dict per metric set: objects shared by the metrics of one set.
        first: the first set's metrics by key (empty while the first set is built), e.g. the
            originals every other set's Fréchet distance compares against.
    """

    weights: Mapping[str, str | None] = field(default_factory=dict)
    quantize: bool = True
    sample_rate: int | None = None
    shared: dict[str, Any] = field(default_factory=dict)
    per_set: dict[str, Any] = field(default_factory=dict)
    first: Mapping[str, Metric] = field(default_factory=dict)


_REGISTRY: dict[str, MetricInfo] = {}
_M = TypeVar("_M", bound=type)


def register_metric(cls: _M) -> _M:
    """Class decorator: register a metric under its ``key`` (see the module docstring)."""
    missing = [a for a in ("key", "label", "modality") if not getattr(cls, a, "")]
    if missing or not isinstance(getattr(cls, "higher_is_better", None), bool):
        raise TypeError(
            f"register_metric: {cls.__name__} must set the class attributes key, label, "
            f"modality (non-empty strings) and higher_is_better (bool); missing {missing}"
        )
    if not callable(getattr(cls, "create", None)):
        raise TypeError(f"register_metric: {cls.__name__} has no create(build) classmethod")
    key = cls.key
    old = _REGISTRY.get(key)
    if old is not None and old.cls.__qualname__ != cls.__qualname__:
        raise ValueError(
            f"register_metric: key {key!r} of {cls.__qualname__} is already taken by "
            f"{old.cls.__module__}.{old.cls.__qualname__}"
        )
    _REGISTRY[key] = MetricInfo(
        key=key,
        label=cls.label,
        higher_is_better=cls.higher_is_better,
        modality=cls.modality,
        cls=cls,
        order=float(getattr(cls, "order", 0.0)),
        default=bool(getattr(cls, "default", False)),
        group=getattr(cls, "group", None),
        needs_reference=bool(getattr(cls, "needs_reference", True)),
        weight_names=tuple(getattr(cls, "weight_names", ())),
        options=tuple(getattr(cls, "options", ())),
    )
    return cls


def _ordered(modality: str | None = None) -> list[MetricInfo]:
    infos = list(_REGISTRY.values())
    modalities = list(dict.fromkeys(i.modality for i in infos))  # first registered first
    rank = {key: n for n, key in enumerate(_REGISTRY)}
    infos.sort(key=lambda i: (modalities.index(i.modality), i.order, rank[i.key]))
    return [i for i in infos if modality is None or i.modality == modality]


def list_metric_modalities() -> list[str]:
    """Modalities that have registered metrics, in registration order."""
    return list(dict.fromkeys(i.modality for i in _ordered()))


def list_metrics(modality: str | None = None, *, default: bool = False) -> list[str]:
    """Metric keys of ``modality`` (all modalities when None), in table order.

    With ``default=True`` only those computed when a run names no metrics.
    """
    return [i.key for i in _ordered(modality) if i.default or not default]


def metric_info(key: str) -> MetricInfo:
    """Label, direction, modality, class, ... of the metric ``key`` (KeyError names the keys)."""
    try:
        return _REGISTRY[key]
    except KeyError:
        raise KeyError(f"unknown metric {key!r}; registered: {', '.join(list_metrics())}") from None


def list_metric_groups(modality: str | None = None) -> dict[str, tuple[str, ...]]:
    """Shorthands accepted in metric lists: ``{group: member keys in table order}``."""
    groups: dict[str, tuple[str, ...]] = {}
    for i in _ordered(modality):
        if i.group:
            groups[i.group] = (*groups.get(i.group, ()), i.key)
    return groups


def expand_metric_names(names: Sequence[str], modality: str | None = None) -> list[str]:
    """Metric keys with group shorthands (``"dnsmos"``) of ``modality`` (any when None) replaced
    by their members."""
    groups = list_metric_groups(modality)
    out: list[str] = []
    for n in names:
        out += list(groups.get(n, (n,)))
    return out


def build_metric_sets(
    modality: str,
    names: Sequence[str],
    *,
    copies: int = 1,
    weights: Mapping[str, str | None] | None = None,
    quantize: bool = True,
    sample_rate: int | None = None,
) -> list[dict[str, Metric]]:
    """``copies`` sets ``{key: metric}`` of ``modality``'s metrics ``names`` (group shorthands
    allowed), each built by its class's ``create``. Errors name ``create_<modality>_metrics``."""
    where = f"create_{modality}_metrics"
    known = _ordered(modality)
    weights = dict(weights or {})
    weight_names = list(dict.fromkeys(w for i in known for w in i.weight_names))
    if not weight_names:
        if any(v is not None for v in weights.values()):
            raise ValueError(f"{where}: {modality} metrics take no weights, got {weights}")
    else:
        unknown = sorted(set(weights) - set(weight_names))
        if unknown:
            raise ValueError(f"{where}: unknown weights {unknown}; use {', '.join(weight_names)}")
    names = expand_metric_names(names, modality)
    keys = [i.key for i in known]
    bad = [n for n in names if n not in keys]
    if bad:
        groups = list_metric_groups(modality)
        alternatives = " or " + ", ".join(repr(g) for g in groups) if groups else ""
        raise ValueError(
            f"{where}: unknown {modality} metrics {bad}; choose from {keys}{alternatives}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: duplicate metric names in {list(names)}")
    if copies < 1:
        raise ValueError(f"{where}: copies must be >= 1, got {copies}")
    if sample_rate is not None and (
        isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1
    ):
        raise ValueError(f"{where}: sample_rate must be a positive int, got {sample_rate!r}")
    shared: dict[str, Any] = {}
    sets: list[dict[str, Metric]] = []
    for _ in range(copies):
        build = MetricBuild(
            weights=weights,
            quantize=quantize,
            sample_rate=sample_rate,
            shared=shared,
            first=sets[0] if sets else {},
        )
        sets.append({name: _REGISTRY[name].cls.create(build) for name in names})
    return sets


class MetricKeys(Sequence[str]):
    """A live, read-only tuple-like view of :func:`list_metrics` for one modality (or a filter),
    for the names that predate the registry (``IMAGE_METRICS``, ``AUDIO_METRICS``, ...)."""

    def __init__(self, modality: str | None, *, default: bool = False, **where: Any) -> None:
        self._modality, self._default, self._where = modality, default, where

    def _keys(self) -> tuple[str, ...]:
        return tuple(
            i.key
            for i in _ordered(self._modality)
            if (i.default or not self._default)
            and all(getattr(i, a) == v for a, v in self._where.items())
        )

    def __getitem__(self, index: Any) -> Any:
        return self._keys()[index]

    def __len__(self) -> int:
        return len(self._keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __contains__(self, key: object) -> bool:
        return key in self._keys()

    def __add__(self, other: Sequence[str]) -> tuple[str, ...]:
        return self._keys() + tuple(other)

    def __radd__(self, other: Sequence[str]) -> tuple[str, ...]:
        return tuple(other) + self._keys()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self._keys() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._keys())

    def __repr__(self) -> str:
        return repr(self._keys())


class MetricTable(Mapping[str, Any]):
    """A live, read-only ``{key: attribute}`` view of the registry (all modalities), e.g.
    ``METRIC_LABELS`` (``attribute="label"``) and ``HIGHER_IS_BETTER``."""

    def __init__(self, attribute: str) -> None:
        self._attribute = attribute

    def __getitem__(self, key: str) -> Any:
        if key not in _REGISTRY:
            raise KeyError(key)
        return getattr(_REGISTRY[key], self._attribute)

    def __iter__(self) -> Iterator[str]:
        return iter(list_metrics())

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __repr__(self) -> str:
        return repr(dict(self))
