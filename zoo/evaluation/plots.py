"""PNG plots of metric vs rate (the evaluator's: bits per pixel for images, kbps for audio;
matplotlib Agg, without touching pyplot state)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo._io import atomic_file
from zoo.evaluation.baselines import variant_label
from zoo.evaluation.runner import Evaluator
from zoo.metrics import HIGHER_IS_BETTER, METRIC_LABELS

_CODEC_STYLE = {
    "jpeg": ("tab:red", "s"),
    "webp": ("tab:green", "^"),
    "avif": ("tab:purple", "D"),
    "opus": ("tab:red", "s"),
    "h264": ("tab:blue", "o"),
    "av1": ("tab:orange", "D"),
    "av1_aom": ("tab:brown", "^"),
}
_SCALE_LINE = {"": "--", "0.5x": ":", "0.25x": "-."}
#: Axis labels of rate units.
RATE_LABELS = {"bpp": "bits per pixel"}


def _codec_style(name: str) -> tuple[str, str, str]:
    """Colour and marker by codec, line style by coding resolution (``"jpeg@0.5x"``)."""
    base, _, scale = name.partition("@")
    color, marker = _CODEC_STYLE.get(base, ("gray", "x"))
    return color, marker, _SCALE_LINE.get(scale, (0, (3, 1, 1, 1, 1, 1)))


#: Panels per row; more metrics wrap onto further rows.
_MAX_COLUMNS = 4


def _figure(n: int):
    # A bare Figure renders with Agg and leaves pyplot's global backend/state untouched.
    from matplotlib.figure import Figure

    cols = min(n, _MAX_COLUMNS)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.8 * cols, 4.0 * rows))
    axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _label_axis(ax: Any, key: str, rate_label: str = "bits per pixel") -> None:
    arrow = "higher is better" if HIGHER_IS_BETTER.get(key, True) else "lower is better"
    ax.set_xscale("log")
    ax.set_xlabel(f"{rate_label} (log scale)")
    ax.set_ylabel(f"{METRIC_LABELS.get(key, key)} ({arrow})")
    ax.grid(True, which="both", alpha=0.3)


def plot_rate_distortion(evaluator: Evaluator, rd: dict[str, Any], path: str | Path) -> Path:
    """One panel per metric: tokenizers (solid, one line over their rates) and baselines
    (quality / bitrate sweep, line style by coding resolution; hollow markers at the tokenizers'
    rates), against the evaluator's rate (bits per pixel, kbps: ``rd_rates`` / ``rd_unit``)."""
    tok_rate, codec_rate = evaluator.rd_rates
    keys = rd["protocol"]["metric_names"]
    fig, axes = _figure(len(keys))
    for i, (ax, key) in enumerate(zip(axes, keys, strict=True)):
        first = i == 0  # legend entries once, for the figure legend
        for tok in rd["tokenizers"]:
            pts = sorted(tok["points"], key=lambda p: p[tok_rate])
            ax.plot(
                [p[tok_rate] for p in pts],
                [float(p["metrics"][key]) for p in pts],
                "o-",
                label=tok["name"] if first else None,
                linewidth=2,
            )
        for codec, res in rd["codecs"].items():
            color, marker, line = _codec_style(codec)
            sweep = sorted(res["sweep"], key=lambda e: e[codec_rate])
            ax.plot(
                [e[codec_rate] for e in sweep],
                [float(e["metrics"][key]) for e in sweep],
                linestyle=line,
                color=color,
                marker=marker,
                markersize=3,
                label=variant_label(codec) if first else None,
            )
            ax.scatter(
                [e[codec_rate] for e in res["matched"]],
                [float(e["metrics"][key]) for e in res["matched"]],
                facecolors="none",
                edgecolors=color,
                marker=marker,
                s=70,
            )
        _label_axis(ax, key, RATE_LABELS.get(evaluator.rd_unit, evaluator.rd_unit))
    what = evaluator.rd_describe_data(rd)
    fig.suptitle(
        f"{rd['data']['source']['spec']}: {what}; hollow markers: codec at the tokenizers' rates",
        fontsize=10,
    )
    fig.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_leaderboard(
    entries: Sequence[dict[str, Any]],
    keys: Sequence[str],
    path: str | Path,
    *,
    rate_key: str = "bits_per_pixel",
    rate_label: str = "bpp",
) -> Path:
    """One panel per metric; each entry ``{"name", "points": [{rate_key, "metrics"}]}`` is one
    line over its rates (an evaluator's ``board_rate``: ``"bits_per_pixel"``, ``"kbps"``)."""
    fig, axes = _figure(len(keys))
    for i, (ax, key) in enumerate(zip(axes, keys, strict=True)):
        for e in entries:
            pts = [p for p in e["points"] if p["metrics"].get(key) is not None]
            if not pts:
                continue
            pts = sorted(pts, key=lambda p: p[rate_key])
            codec = e.get("codec")
            color, marker, line = _codec_style(codec) if codec else (None, "o", "-")
            ax.plot(
                [p[rate_key] for p in pts],
                [float(p["metrics"][key]) for p in pts],
                marker=marker,
                linestyle=line,
                color=color,
                label=e["name"] if i == 0 else None,
            )
        _label_axis(ax, key, RATE_LABELS.get(rate_label, rate_label))
    fig.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    """Write the figure as PNG atomically (a failure leaves any previous plot as it was)."""
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return Path(path)
