"""Rate-distortion: tokenizers against their modality's classical baseline at matched rate.

For every rate a tokenizer operates at (bits per image for images, measured kbps for audio),
the evaluator's baseline (:mod:`.baselines`: JPEG / WebP / AVIF per image, Opus per clip) is
searched per item so that its size matches the same rate within a tolerance (default 5%), and the
decoded items are measured with the same metrics, on the same originals (the same manifest), as
the tokenizer's reconstructions; a sweep of the baseline's settings draws its curve. Everything
lands in one JSON, a Markdown report that states per rate whether the tokenizer is ahead of or
behind each baseline, and a PNG plot of every metric against the rate (:mod:`.plots`).

This module is the modality-free driver; what differs lives in the evaluator's ``rd_*`` hooks
and :meth:`~zoo.evaluation.runner.Evaluator.run_baseline`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from zoo.evaluation.baselines import variant_label
from zoo.evaluation.protocol import (
    RATE_DISTORTION_SCHEMA,
    format_value,
    markdown_table,
    result_modality,
    utc_now,
)
from zoo.evaluation.runner import Evaluator, resolve_device
from zoo.metrics import HIGHER_IS_BETTER, METRIC_LABELS


def compare_metrics(
    tokenizer: dict[str, float], codec: dict[str, float], metrics: Sequence[str]
) -> dict[str, str]:
    """Per metric present on both sides: is the tokenizer ``ahead``, ``tie`` or ``behind``."""
    verdict = {}
    for k in metrics:
        a, b = tokenizer.get(k), codec.get(k)
        if a is None or b is None:
            continue
        better = (a > b) if HIGHER_IS_BETTER.get(k, True) else (a < b)
        verdict[k] = "ahead" if better else ("tie" if a == b else "behind")
    return verdict


def verdict_clauses(row: dict[str, Any]) -> str:
    """``"ahead on PSNR (20.1 vs 19.3); behind on SSIM (...)"`` for one comparison row."""
    parts = []
    for k, verdict in row["tokenizer_is"].items():
        a = format_value(row["tokenizer_metrics"][k], k)
        b = format_value(row["codec_metrics"][k], k)
        parts.append(f"{verdict} on {METRIC_LABELS.get(k, k)} ({a} vs {b})")
    return "; ".join(parts)


def compare_at_matched_rate(
    evaluator: Evaluator,
    tokenizers: list[dict[str, Any]],
    codecs: dict[str, Any],
    metrics: Sequence[str],
) -> list[dict[str, Any]]:
    """For every tokenizer point and baseline: both metric values and who is ahead."""
    rows = []
    for tok in tokenizers:
        for p in tok["points"]:
            for c, res in codecs.items():
                m = evaluator.rd_matched(res, p)
                point_fields, codec_fields = evaluator.rd_comparison_fields(p, m)
                rows.append(
                    {
                        "tokenizer": tok["name"],
                        **point_fields,
                        "codec": c,
                        **codec_fields,
                        "rate_matched": m["fraction_within_tolerance"] == 1.0,
                        "tokenizer_metrics": p["metrics"],
                        "codec_metrics": m["metrics"],
                        "tokenizer_is": compare_metrics(p["metrics"], m["metrics"], metrics),
                    }
                )
    return rows


def rate_distortion(
    evaluator: Evaluator,
    *,
    results: list[dict[str, Any]],
    data: str | None = None,
    codecs: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    tolerance: float = 0.05,
    skip_bad: bool = False,
    limit: int | None = None,
    device: str = "auto",
    progress: bool = True,
    command: Sequence[str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The rate-distortion result for reconstruction results of ``evaluator``'s modality.

    All results must come from the same data (manifest) and the evaluator's protocol fields
    (``rd_same``: resolution and resize rule, or sample rate, channels and crop); the baseline
    then codes exactly those items (``data`` defaults to the results' source). ``options`` go to
    :meth:`~zoo.evaluation.runner.Evaluator.run_baseline` (quality sweeps, coding scales, ...).
    """
    start = time.perf_counter()
    if not results:
        raise ValueError("rate_distortion: need at least one tokenizer result")
    for i, r in enumerate(results):
        evaluator.validate(r, source=f"tokenizer result {i}")
        if result_modality(r) != evaluator.name:
            raise ValueError(
                f"rate_distortion: result {i} ({r['tokenizer']['name']!r}) is "
                f"{result_modality(r)!r}, not {evaluator.name}; compare each modality separately"
            )
    first = results[0]
    same = [("data manifest", lambda x: x["data"]["manifest_sha256"])]
    same += [(what, lambda x, k=key: x["protocol"][k]) for what, key in evaluator.rd_same]
    for r in results[1:]:
        for what, get in same:
            if get(r) != get(first):
                raise ValueError(
                    f"rate_distortion: {r['tokenizer']['name']!r} and "
                    f"{first['tokenizer']['name']!r} were evaluated with different {what}s; "
                    f"evaluate all tokenizers on the same data and {evaluator.rd_same_hint}"
                )
    proto = first["protocol"]
    metric_names = evaluator.rd_metric_names(proto, metrics)
    missing = [k for k in metric_names for r in results if k not in r["results"][0]["metrics"]]
    if missing:
        raise ValueError(
            f"rate_distortion: metrics {sorted(set(missing))} are missing from some tokenizer "
            "results; evaluate the tokenizers with the same --metrics"
        )
    # The baseline must see exactly the tokenizers' items (checked through the manifest below).
    if limit is None:
        limit = first["data"].get("limit")
    skip_bad = skip_bad or any(r["data"]["skipped"] for r in results)
    tokenizers = [evaluator.rd_points(r) for r in results]
    targets = [evaluator.rd_target(p) for t in tokenizers for p in t["points"]]
    codec_results, log, protocol = evaluator.run_baseline(
        results=results,
        data=data or first["data"]["source"]["spec"],
        targets=targets,
        codecs=codecs,
        metrics=metric_names,
        tolerance=tolerance,
        skip_bad=skip_bad,
        limit=limit,
        device=device,
        progress=progress,
        **options,
    )
    if log.manifest_sha256() != first["data"]["manifest_sha256"]:
        raise ValueError(
            f"rate_distortion: the baseline saw different {evaluator.items} than the tokenizer "
            f"results (manifest {log.manifest_sha256()[:16]} vs "
            f"{first['data']['manifest_sha256'][:16]}); use the same --data, --limit and "
            "--skip-bad (and the same preprocessing options)"
        )
    reference = {}
    for r in results:
        reference.update(r.get("reference_metrics") or {})
    extra = {"reference_metrics": {k: v for k, v in reference.items() if k in metric_names}}
    return {
        "schema": RATE_DISTORTION_SCHEMA,
        "modality": evaluator.name,
        "data": {**first["data"]},
        "protocol": {**protocol, "rate_tolerance": tolerance, "metric_names": metric_names},
        "metrics": {k: v for k, v in first["metrics"].items() if k in metric_names},
        **(extra if "reference_metrics" in first else {}),
        "tokenizers": tokenizers,
        "codecs": codec_results,
        "comparison": compare_at_matched_rate(evaluator, tokenizers, codec_results, metric_names),
        "environment": evaluator.environment(resolve_device(device)),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "created": utc_now(),
        "command": list(command) if command is not None else None,
    }


def rate_distortion_markdown(evaluator: Evaluator, rd: dict[str, Any]) -> str:
    """Markdown report: matched-rate table, a plain statement per rate and baseline, sweep."""
    keys = rd["protocol"]["metric_names"]
    labels = [METRIC_LABELS.get(k, k) for k in keys]
    lines = [f"# {evaluator.rd_title}", "", *evaluator.rd_intro(rd), "", "## At matched rate", ""]
    header = ["method", evaluator.rd_setting, "target", "achieved", "rate hit", *labels]
    header[2:4] = [f"target {evaluator.rd_unit}", f"achieved {evaluator.rd_unit}"]
    rows = []
    for tok in rd["tokenizers"]:
        for p in tok["points"]:
            rate = evaluator.rd_rate_text(evaluator.rd_point_rate(p))
            rows.append(
                [f"`{tok['name']}`", evaluator.rd_point_setting(p), rate, rate, "exact"]
                + [format_value(p["metrics"].get(k), k) for k in keys]
            )
            for c, res in rd["codecs"].items():
                m = evaluator.rd_matched(res, p)
                hit = f"{m['fraction_within_tolerance']:.0%}"
                if m["num_unreachable"]:
                    hit += f" ({m['num_unreachable']} unreachable)"
                rows.append(
                    [variant_label(c), *evaluator.rd_matched_cells(m), hit]
                    + [format_value(m["metrics"].get(k), k) for k in keys]
                )
    ref = rd.get("reference_metrics") or {}
    if ref:
        rows.append(
            ["originals", "–", "–", "–", "–"]
            + [format_value(ref[k], k) if k in ref else "–" for k in keys]
        )
    lines += [markdown_table(header, rows), "## Verdict", ""]
    for row in rd["comparison"]:
        clauses = verdict_clauses(row)
        where = evaluator.rd_verdict_where(row)
        codec = variant_label(row["codec"])
        if row["rate_matched"]:
            lines.append(f"- {where} vs {codec}: {clauses}.")
        else:
            ours, theirs = evaluator.rd_row_rates(row)
            lines.append(
                f"- {where} vs {codec}: the codec could not match this rate for every "
                f"{evaluator.item} (it used {evaluator.rd_rate_text(theirs)} on average, "
                f"{theirs / ours:.2f}x the tokenizer's rate); at that rate the tokenizer is "
                f"{clauses}."
            )
    sweep_header, sweep_cells = evaluator.rd_sweep_columns()
    sweep_rows = [
        [variant_label(c), *[cell(e) for cell in sweep_cells]]
        + [format_value(e["metrics"].get(k), k) for k in keys]
        for c, res in rd["codecs"].items()
        for e in res["sweep"]
    ]
    lines += ["", f"## {evaluator.rd_sweep_title}", ""]
    lines.append(markdown_table(["codec", *sweep_header, *labels], sweep_rows))
    return "\n".join(lines)
