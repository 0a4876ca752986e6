"""Leaderboards across result files, and model-card ``model-index`` entries from a result.

Numbers are only comparable under the same protocol: :func:`protocol_id` hashes what must
agree (the evaluator's ``protocol_key``: data manifest, resolution, resize rule, PNG round trip;
sample rate, channels, crop -- plus the metric weights) and the leaderboard shows it per row and
warns when rows differ. Every function takes the evaluator of the results' modality (the
``eval/`` runners look it up in :mod:`zoo.modalities`); one leaderboard holds one modality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.evaluation.baselines import variant_label
from zoo.evaluation.protocol import (
    RATE_DISTORTION_SCHEMA,
    RECONSTRUCTION_SCHEMA,
    as_float,
    format_value,
    markdown_table,
    result_modality,
    sha256_json,
)
from zoo.evaluation.runner import Evaluator
from zoo.metrics import HIGHER_IS_BETTER, METRIC_LABELS


def protocol_id(evaluator: Evaluator, result: dict[str, Any]) -> str:
    """A short hash of everything that must match for two results to be comparable: the
    evaluator's :meth:`~zoo.evaluation.runner.Evaluator.protocol_key` and the metric weights."""
    weights = {
        k: m.get("weights_sha256") or m.get("backbone_weights_sha256")
        for k, m in result.get("metrics", {}).items()
        if isinstance(m, dict)
    }
    key = {**evaluator.protocol_key(result), "weights": {k: v for k, v in weights.items() if v}}
    return sha256_json(key)[:8]


def leaderboard_entries(
    evaluator: Evaluator, result: dict[str, Any], source: str = ""
) -> list[dict[str, Any]]:
    """Entries ``{"name", "codec", "protocol", "modality", "points": [...]}`` of a
    reconstruction or rate-distortion result of ``evaluator``'s modality (baselines contribute
    their sweep). Points carry the evaluator's board rate (bits per pixel, kbps, ...)."""
    schema = result.get("schema")
    if schema not in (RECONSTRUCTION_SCHEMA, RATE_DISTORTION_SCHEMA):
        raise ValueError(
            f"{source or 'result'}: unknown schema {schema!r}; expected a file written by "
            "eval/reconstruct.py or eval/rate_distortion.py"
        )
    pid = protocol_id(evaluator, result) if schema == RATE_DISTORTION_SCHEMA else None
    if schema == RECONSTRUCTION_SCHEMA:
        evaluator.validate(result, source=source or "result")
        pid = protocol_id(evaluator, result)
        methods = [(result["tokenizer"]["name"], None, result["results"], evaluator.board_point)]
    else:
        methods = [
            (t["name"], None, t["points"], evaluator.board_point) for t in result["tokenizers"]
        ]
        methods += [(variant_label(c), c, res["sweep"], evaluator.board_sweep_point)
                    for c, res in result["codecs"].items()]  # fmt: skip
    return [
        {"name": name, "codec": codec, "protocol": pid, "modality": result_modality(result),
         "points": [point(p) for p in points]}
        for name, codec, points, point in methods
    ]  # fmt: skip


def entries_modality(entries: list[dict[str, Any]]) -> str:
    """The one modality of leaderboard entries (ValueError when they mix images and audio)."""
    modalities = {e["modality"] for e in entries}
    if len(modalities) > 1:
        raise ValueError(
            f"leaderboard: results of different modalities ({', '.join(sorted(modalities))}) "
            "cannot share one table; compare each modality separately"
        )
    return modalities.pop() if modalities else ""


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
    evaluator: Evaluator,
    entries: list[dict[str, Any]],
    *,
    sort_by: str | None = None,
    include_codecs: bool = True,
) -> str:
    """One row per (method, rate), sorted by ``sort_by`` (best first), with a protocol column."""
    entries_modality(entries)
    order = evaluator.metric_keys
    rate_key, rate_label, rate_format = evaluator.board_rate
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
    header = ["#", "method", evaluator.board_setting, rate_label]
    header += [METRIC_LABELS.get(k, k) for k in keys] + ["protocol"]
    table = [
        [
            i + 1,
            f"`{e['name']}`" if e["codec"] is None else e["name"],
            p["num_tokens"],
            rate_format.format(p[rate_key]),
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
            f"{evaluator.protocol_parts}, so rows with different protocol ids are not "
            "comparable.**"
        )
    lines += evaluator.board_notes()
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
    evaluator: Evaluator,
    result: dict[str, Any],
    *,
    dataset_name: str | None = None,
    dataset_type: str | None = None,
    split: str | None = None,
) -> list[dict[str, Any]]:
    """``eval_results`` for :func:`zoo.hub.render_model_card` from a reconstruction result.

    One dict ``{"dataset", "dataset_type", "split", "metrics": {label: value}}``; metric names
    carry where they were measured (``"PSNR @256px, 32 tokens"``, ``"PESQ-WB @24kHz, 6 kbps"``:
    :meth:`~zoo.evaluation.runner.Evaluator.card_metrics`).
    """
    evaluator.validate(result)
    name = dataset_name or default_dataset_name(result)
    return [
        {
            "dataset": f"{name} {evaluator.card_dataset(result)}",
            "dataset_type": dataset_type or name,
            "split": split,
            "metrics": evaluator.card_metrics(result),
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
