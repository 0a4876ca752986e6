"""Leaderboards across result files, and model-card ``model-index`` entries from a result.

Numbers are only comparable under the same protocol: :func:`protocol_id` hashes what must
agree (data manifest, resolution, resize rule, PNG round trip, feature-network weights; for
audio: manifest, sample rate, channels, crop and metric weights) and the leaderboard shows it per
row and warns when rows differ. Image rows are ranked at bits per pixel, audio rows at kbps; one
leaderboard holds one modality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.evaluation.codecs import variant_label
from zoo.evaluation.protocol import (
    RATE_DISTORTION_SCHEMA,
    RECONSTRUCTION_SCHEMA,
    as_float,
    format_value,
    markdown_table,
    sha256_json,
    validate_result,
)
from zoo.metrics import AUDIO_METRICS, HIGHER_IS_BETTER, IMAGE_METRICS, METRIC_LABELS


def protocol_id(result: dict[str, Any]) -> str:
    """A short hash of everything that must match for two results to be comparable."""
    weights = {
        k: m.get("weights_sha256") or m.get("backbone_weights_sha256")
        for k, m in result.get("metrics", {}).items()
        if isinstance(m, dict)
    }
    if result.get("modality") == "audio":
        proto = result["protocol"]
        return sha256_json(
            {
                "manifest": result["data"]["manifest_sha256"],
                "sample_rate": proto["sample_rate"],
                "channels": proto["channels"],
                "max_seconds": proto["max_seconds"],
                "weights": {k: v for k, v in weights.items() if v},
            }
        )[:8]
    key = {
        "manifest": result["data"]["manifest_sha256"],
        "resolution": result["protocol"]["resolution"],
        "resize": result["protocol"]["resize"].get("mode"),
        "interpolation": result["protocol"]["resize"].get("interpolation"),
        "png_round_trip": result["protocol"]["png_round_trip"],
        "weights": {k: v for k, v in weights.items() if v},
    }
    return sha256_json(key)[:8]


def leaderboard_entries(result: dict[str, Any], source: str = "") -> list[dict[str, Any]]:
    """Entries ``{"name", "codec", "protocol", "modality", "points": [...]}`` of a
    reconstruction or rate-distortion result (codecs contribute their matched-rate points and
    sweep). Image points carry ``bits_per_pixel``, audio points ``kbps``."""
    schema = result.get("schema")
    audio = result.get("modality") == "audio"
    modality = "audio" if audio else "image"
    if schema == RECONSTRUCTION_SCHEMA:
        validate_result(result, source=source or "result")
        pid = protocol_id(result)
        if audio:
            points = [
                {
                    "num_tokens": f"{r['num_codebooks']} cb",
                    "kbps": r["measured_bitrate_kbps"],
                    "metrics": r["metrics"],
                }
                for r in result["results"]
            ]
        else:
            points = [
                {
                    "num_tokens": r["num_tokens"],
                    "bits_per_pixel": r["bits_per_pixel"],
                    "metrics": r["metrics"],
                }
                for r in result["results"]
            ]
        return [
            {
                "name": result["tokenizer"]["name"],
                "codec": None,
                "protocol": pid,
                "modality": modality,
                "points": points,
            }
        ]
    if schema == RATE_DISTORTION_SCHEMA:
        pid = protocol_id(result)

        def entry(name: str, codec: str | None, points: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "name": name,
                "codec": codec,
                "protocol": pid,
                "modality": modality,
                "points": points,
            }

        if audio:
            out = [
                entry(
                    t["name"],
                    None,
                    [
                        {
                            "num_tokens": f"{p['num_codebooks']} cb",
                            "kbps": p["measured_bitrate_kbps"],
                            "metrics": p["metrics"],
                        }
                        for p in t["points"]
                    ],
                )
                for t in result["tokenizers"]
            ]
            sweep = [
                (codec, [
                    {"num_tokens": f"{e['setting_kbps']:g} kbps", "kbps": e["payload_kbps"],
                     "metrics": e["metrics"]}
                    for e in res["sweep"]
                ])
                for codec, res in result["codecs"].items()
            ]  # fmt: skip
        else:
            out = [entry(t["name"], None, t["points"]) for t in result["tokenizers"]]
            sweep = [
                (codec, [
                    {"num_tokens": f"q {e['quality']:g}", "bits_per_pixel": e["bits_per_pixel"],
                     "metrics": e["metrics"]}
                    for e in res["sweep"]
                ])
                for codec, res in result["codecs"].items()
            ]  # fmt: skip
        out += [entry(variant_label(codec), codec, pts) for codec, pts in sweep]
        return out
    raise ValueError(
        f"{source or 'result'}: unknown schema {schema!r}; expected a file written by "
        "eval/reconstruct.py or eval/rate_distortion.py"
    )


def entries_modality(entries: list[dict[str, Any]]) -> str:
    """The one modality of leaderboard entries (ValueError when they mix images and audio)."""
    modalities = {e.get("modality", "image") for e in entries}
    if len(modalities) > 1:
        raise ValueError(
            f"leaderboard: results of different modalities ({', '.join(sorted(modalities))}) "
            "cannot share one table; compare each modality separately"
        )
    return modalities.pop() if modalities else "image"


def unique_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries without repeats (a tokenizer appears in its own result and in a rate-distortion
    result built from it)."""
    seen, out = set(), []
    for e in entries:
        key = sha256_json([e["name"], e["codec"], e["protocol"], e["points"]])
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def leaderboard_markdown(
    entries: list[dict[str, Any]], *, sort_by: str | None = None, include_codecs: bool = True
) -> str:
    """One row per (method, rate), sorted by ``sort_by`` (best first), with a protocol column."""
    audio = entries_modality(entries) == "audio"
    order = AUDIO_METRICS if audio else IMAGE_METRICS
    rate_key, rate_label = ("kbps", "kbps") if audio else ("bits_per_pixel", "bpp")
    keys = [k for k in order if any(k in p["metrics"] for e in entries for p in e["points"])]
    keys += sorted({k for e in entries for p in e["points"] for k in p["metrics"]} - set(order))
    if sort_by is None:
        sort_by = keys[0] if keys else None
    if sort_by is not None and sort_by not in keys:
        raise ValueError(f"leaderboard: cannot sort by {sort_by!r}; metrics present: {keys}")
    rows = [(e, p) for e in entries if include_codecs or e["codec"] is None for p in e["points"]]

    def sort_key(item: tuple[dict, dict]) -> float:
        v = item[1]["metrics"].get(sort_by)
        if v is None:
            return float("inf")
        v = as_float(v)
        return -v if HIGHER_IS_BETTER.get(sort_by, True) else v

    if sort_by is not None:
        rows.sort(key=sort_key)
    setting = "codebooks / setting" if audio else "tokens / quality"
    header = ["#", "method", setting, rate_label, *[METRIC_LABELS.get(k, k) for k in keys]]
    header.append("protocol")
    table = [
        [
            i + 1,
            f"`{e['name']}`" if e["codec"] is None else e["name"],
            p["num_tokens"],
            f"{p[rate_key]:.3f}" if audio else f"{p[rate_key]:.4f}",
            *[format_value(p["metrics"].get(k), k) for k in keys],
            e["protocol"],
        ]
        for i, (e, p) in enumerate(rows)
    ]
    lines = ["# Leaderboard", ""]
    if sort_by is not None:
        arrow = "higher" if HIGHER_IS_BETTER.get(sort_by, True) else "lower"
        lines.append(f"Sorted by {METRIC_LABELS.get(sort_by, sort_by)} ({arrow} is better).")
    protocols = sorted({e["protocol"] for e in entries})
    if len(protocols) > 1:
        lines.append(
            f"**Warning: {len(protocols)} different protocols ({', '.join(protocols)}): data, "
            + (
                "sample rate, channels, crop or metric weights differ"
                if audio
                else "resolution, resize rule or feature weights differ"
            )
            + ", so rows with different protocol ids are not comparable.**"
        )
    if not audio:
        lines.append("FD-EffLite0 is a Fréchet distance on EfficientNet-Lite0 features, not FID.")
    lines.append("")
    lines.append(markdown_table(header, table))
    return "\n".join(lines)


# --------------------------------------------------------------------------- model cards
def default_dataset_name(result: dict[str, Any]) -> str:
    """A readable dataset name from the result's data source."""
    src = result["data"]["source"]
    builtin = {"skimage": "skimage-photos", "speech": "builtin-speech", "alsa": "alsa-prompts"}
    if src["kind"] in builtin:
        return builtin[src["kind"]]
    return Path(str(src["spec"]).rstrip("/")).name or str(src["spec"])


def model_card_eval_results(
    result: dict[str, Any],
    *,
    dataset_name: str | None = None,
    dataset_type: str | None = None,
    split: str | None = None,
) -> list[dict[str, Any]]:
    """``eval_results`` for :func:`zoo.hub.render_model_card` from a reconstruction result.

    One dict ``{"dataset", "dataset_type", "split", "metrics": {label: value}}``; metric names
    carry the resolution and, for flexible-length tokenizers, the token count (``"PSNR @256px,
    32 tokens"``), plus bits per pixel and codebook usage. Audio metric names carry the sample
    rate and the bitrate (``"PESQ-WB @24kHz, 6 kbps"``), plus codebook usage.
    """
    validate_result(result)
    if result["modality"] == "audio":
        return _audio_eval_results(result, dataset_name, dataset_type, split)
    h, w = result["protocol"]["resolution"]
    res = f"{h}px" if h == w else f"{h}x{w}"
    flexible = result["tokenizer"]["flexible_length"]
    metrics: dict[str, float] = {}
    for r in result["results"]:
        where = f"@{res}, {r['num_tokens']} tokens" if flexible else f"@{res}"
        for k, v in r["metrics"].items():
            value = as_float(v)
            if value == value and abs(value) != float("inf"):  # model-index needs finite numbers
                metrics[f"{METRIC_LABELS.get(k, k)} {where}"] = value
        metrics[f"bits per pixel {where}"] = float(r["bits_per_pixel"])
        metrics[f"codebook usage {where}"] = float(r["codebook"]["codebook_usage"])
    name = dataset_name or default_dataset_name(result)
    return [
        {
            "dataset": f"{name} ({result['data']['num_samples']} images)",
            "dataset_type": dataset_type or name,
            "split": split,
            "metrics": metrics,
        }
    ]


def _finite(value: Any) -> float | None:
    v = as_float(value)
    return v if v == v and abs(v) != float("inf") else None  # model-index needs finite numbers


def _audio_eval_results(
    result: dict[str, Any], dataset_name: str | None, dataset_type: str | None, split: str | None
) -> list[dict[str, Any]]:
    rate = f"{result['protocol']['sample_rate'] / 1000:g}kHz"
    metrics: dict[str, float] = {}
    for r in result["results"]:
        where = f"@{rate}, {r['bitrate_kbps']:.3g} kbps"
        for k, v in r["metrics"].items():
            if _finite(v) is not None:
                metrics[f"{METRIC_LABELS.get(k, k)} {where}"] = _finite(v)
        metrics[f"codebook usage {where}"] = float(r["codebook"]["codebook_usage"])
    for k, v in (result.get("reference_metrics") or {}).items():
        if _finite(v) is not None:
            metrics[f"{METRIC_LABELS.get(k, k)} @{rate}, original audio"] = _finite(v)
    name = dataset_name or default_dataset_name(result)
    data = result["data"]
    return [
        {
            "dataset": f"{name} ({data['num_samples']} clips, {data['total_seconds']:.0f} s)",
            "dataset_type": dataset_type or name,
            "split": split,
            "metrics": metrics,
        }
    ]


def eval_results_markdown(eval_results: list[dict[str, Any]]) -> str:
    """The card's metrics table (dataset | split | metric | value)."""
    rows = [
        [e["dataset"], e.get("split") or "", metric, f"{value:.4g}"]
        for e in eval_results
        for metric, value in e["metrics"].items()
    ]
    return markdown_table(["dataset", "split", "metric", "value"], rows)
