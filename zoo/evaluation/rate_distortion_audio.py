"""Rate-distortion of audio tokenizers against Opus at matched bitrate, on the same clips.

For every bitrate a tokenizer was evaluated at (its measured kbps: code bits over the duration of
the set), each clip is coded with Opus at the setting whose packet payload rate matches it
(within a tolerance, default 5%; :func:`zoo.evaluation.audio_codecs.match_opus_rate`), and the
decoded clips are measured with the same metrics, on the same originals (same manifest, rate,
channels and crop), as the tokenizer's reconstructions. A sweep of Opus bitrates draws its
curve. Everything lands in one JSON, a Markdown report that states per bitrate whether the
tokenizer is ahead of or behind Opus, and a PNG plot of every metric against kbps.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from zoo.evaluation.audio_codecs import (
    OPUS_MAX_KBPS,
    OPUS_MIN_KBPS,
    match_opus_rate,
    opus_round_trip,
    opus_settings,
    require_opus,
)
from zoo.evaluation.audio_sources import AudioRule, iter_audio_clips, open_audio_source
from zoo.evaluation.codecs import variant_label
from zoo.evaluation.protocol import (
    RATE_DISTORTION_SCHEMA,
    environment_info,
    format_value,
    markdown_table,
    utc_now,
    validate_result,
)
from zoo.evaluation.rate_distortion import compare_metrics, verdict_clauses
from zoo.evaluation.reconstruct import resolve_device
from zoo.evaluation.sources import DataLog
from zoo.metrics import METRIC_LABELS, create_metrics
from zoo.metrics.audio import AudioMetric, expand_audio_metric_names

#: Default Opus bitrates of the curve, kbps (per clip; the reachable range is 6-256 per channel).
DEFAULT_OPUS_SWEEP = (6, 8, 12, 16, 24, 32)
#: The audio codecs a rate-distortion comparison can run.
AUDIO_CODECS = ("opus",)


def audio_tokenizer_points(result: dict[str, Any]) -> dict[str, Any]:
    """The rate-distortion points of an audio reconstruction result."""
    return {
        "name": result["tokenizer"]["name"],
        "architecture": result["tokenizer"]["architecture"],
        "config_sha256": result["tokenizer"]["config_sha256"],
        "weights_sha256": result["tokenizer"]["weights_sha256"],
        "sample_rate": result["tokenizer"]["sample_rate"],
        "frame_rate": result["tokenizer"]["frame_rate"],
        "points": [
            {
                "num_codebooks": r["num_codebooks"],
                "bitrate_kbps": r["bitrate_kbps"],
                "measured_bitrate_kbps": r["measured_bitrate_kbps"],
                "metrics": r["metrics"],
            }
            for r in result["results"]
        ],
    }


def evaluate_opus(
    *,
    data: str,
    rule: AudioRule,
    targets_kbps: Sequence[float],
    metrics: Sequence[str],
    sweep: Sequence[float] = DEFAULT_OPUS_SWEEP,
    tolerance: float = 0.05,
    skip_bad: bool = False,
    limit: int | None = None,
    min_samples: int = 1,
    progress: bool = True,
) -> tuple[dict[str, Any], DataLog]:
    """Measure Opus on every clip of ``data`` at every target rate and over the ``sweep``.

    Returns ``({"settings", "matched": [...], "sweep": [...]}, data log)``.
    """
    require_opus()  # fail before reading any data
    lo, hi = OPUS_MIN_KBPS * rule.channels, OPUS_MAX_KBPS * rule.channels
    bad = [b for b in sweep if not lo <= b <= hi]
    if bad:
        raise ValueError(
            f"--opus-sweep {bad}: Opus is measured at {lo:g} to {hi:g} kbps for {rule.channels} "
            "channel(s)"
        )
    targets = sorted({round(float(t), 9) for t in targets_kbps})
    points = [("matched", t) for t in targets] + [("sweep", float(b)) for b in sweep]
    sets = create_metrics("audio", list(metrics), copies=len(points), sample_rate=rule.sample_rate)
    stats = [
        {"payload": 0, "file": 0, "seconds": 0.0, "settings": [], "within": 0, "unreachable": 0,
         "rel_err": []}
        for _ in points
    ]  # fmt: skip
    source = open_audio_source(data)
    log = DataLog()
    reject_silent = any(getattr(m, "needs_reference_signal", False) for m in sets[0].values())
    clips = iter_audio_clips(
        source,
        rule,
        skip_bad=skip_bad,
        log=log,
        limit=limit,
        min_samples=min_samples,
        reject_silent=reject_silent,
    )
    from tqdm.auto import tqdm

    total = len(source) if limit is None else min(limit, len(source))
    for clip in tqdm(clips, total=total, desc="opus", unit="clip", disable=not progress):
        x = clip.audio
        audio = x[0].numpy()
        for i, (kind, value) in enumerate(points):
            s = stats[i]
            if kind == "matched":
                m = match_opus_rate(audio, rule.sample_rate, value, tolerance=tolerance)
                coded = m.coded
                s["within"] += int(m.within_tolerance)
                s["unreachable"] += int(not m.reachable)
                s["rel_err"].append(m.relative_error)
            else:
                coded = opus_round_trip(audio, rule.sample_rate, value)
            s["payload"] += coded.payload_bytes
            s["file"] += coded.file_bytes
            s["seconds"] += coded.seconds
            s["settings"].append(coded.setting_kbps)
            rec = torch.from_numpy(coded.audio)[None]
            for metric in sets[i].values():
                metric.update(rec, x)
    out: dict[str, Any] = {"settings": opus_settings(), "matched": [], "sweep": []}
    for i, (kind, value) in enumerate(points):
        s = stats[i]
        entry: dict[str, Any] = {
            "payload_kbps": s["payload"] * 8 / s["seconds"] / 1000,
            "file_kbps": s["file"] * 8 / s["seconds"] / 1000,
            "metrics": {k: float(m.compute()) for k, m in sets[i].items()},
        }
        if kind == "matched":
            n = len(s["settings"])
            entry = {
                "target_kbps": value,
                **entry,
                "setting_kbps_min": float(np.min(s["settings"])),
                "setting_kbps_max": float(np.max(s["settings"])),
                "fraction_within_tolerance": s["within"] / n,
                "num_unreachable": s["unreachable"],
                "mean_relative_error": float(np.mean(s["rel_err"])),
                "max_abs_relative_error": float(np.max(np.abs(s["rel_err"]))),
            }
        else:
            entry = {"setting_kbps": value, **entry}
        out[kind].append(entry)
    return out, log


def _matched_entry(codec: dict[str, Any], kbps: float) -> dict[str, Any]:
    return next(e for e in codec["matched"] if abs(e["target_kbps"] - round(kbps, 9)) < 1e-6)


def compare_audio_at_matched_rate(
    tokenizers: list[dict[str, Any]], codecs: dict[str, Any], metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """For every tokenizer bitrate and codec: both metric values and who is ahead."""
    rows = []
    for tok in tokenizers:
        for p in tok["points"]:
            for c, res in codecs.items():
                m = _matched_entry(res, p["measured_bitrate_kbps"])
                verdict = compare_metrics(p["metrics"], m["metrics"], metrics)
                rows.append(
                    {
                        "tokenizer": tok["name"],
                        "num_codebooks": p["num_codebooks"],
                        "bitrate_kbps": p["measured_bitrate_kbps"],
                        "codec": c,
                        "codec_kbps": m["payload_kbps"],
                        "rate_matched": m["fraction_within_tolerance"] == 1.0,
                        "tokenizer_metrics": p["metrics"],
                        "codec_metrics": m["metrics"],
                        "tokenizer_is": verdict,
                    }
                )
    return rows


def audio_rate_distortion(
    *,
    results: list[dict[str, Any]],
    data: str | None = None,
    codecs: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    sweep: Sequence[float] = DEFAULT_OPUS_SWEEP,
    tolerance: float = 0.05,
    skip_bad: bool = False,
    limit: int | None = None,
    device: str = "auto",
    progress: bool = True,
    command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The rate-distortion result for audio tokenizer results and Opus.

    All tokenizer results must come from the same clips (manifest), sample rate, channels and
    crop; Opus then codes exactly those clips (``data`` defaults to the results' source).
    """
    start = time.perf_counter()
    if not results:
        raise ValueError("audio_rate_distortion: need at least one tokenizer result")
    for i, r in enumerate(results):
        validate_result(r, source=f"tokenizer result {i}")
        if r["modality"] != "audio":
            raise ValueError(
                f"audio_rate_distortion: result {i} ({r['tokenizer']['name']!r}) is "
                f"{r['modality']!r}, not audio; compare images with rate_distortion()"
            )
    codecs = list(codecs) if codecs else list(AUDIO_CODECS)
    unknown = [c for c in codecs if c not in AUDIO_CODECS]
    if unknown:
        raise ValueError(f"unknown audio codecs {unknown}; choose from {list(AUDIO_CODECS)}")
    first = results[0]
    for r in results[1:]:
        for what, get in (
            ("data manifest", lambda x: x["data"]["manifest_sha256"]),
            ("sample rate", lambda x: x["protocol"]["sample_rate"]),
            ("channel count", lambda x: x["protocol"]["channels"]),
            ("crop (--max-seconds)", lambda x: x["protocol"]["max_seconds"]),
        ):
            if get(r) != get(first):
                raise ValueError(
                    f"audio_rate_distortion: {r['tokenizer']['name']!r} and "
                    f"{first['tokenizer']['name']!r} were evaluated with different {what}s; "
                    "compare tokenizers of the same sample rate and channels on the same clips"
                )
    proto = first["protocol"]
    rule = AudioRule(int(proto["sample_rate"]), int(proto["channels"]), proto["max_seconds"])
    metric_names = expand_audio_metric_names(metrics) if metrics else list(proto["metric_names"])
    missing = [k for k in metric_names for r in results if k not in r["results"][0]["metrics"]]
    if missing:
        raise ValueError(
            f"audio_rate_distortion: metrics {sorted(set(missing))} are missing from some "
            "tokenizer results; evaluate the tokenizers with the same --metrics"
        )
    if limit is None:
        limit = first["data"].get("limit")
    skip_bad = skip_bad or any(r["data"]["skipped"] for r in results)
    # The same clips as the tokenizers: their shortest-clip rule (one frame) and the metrics'.
    probe = create_metrics("audio", metric_names, sample_rate=rule.sample_rate)[0]
    min_samples = max(
        [int(r["tokenizer"].get("hop_length", 1)) for r in results]
        + [m.min_samples for m in probe.values() if isinstance(m, AudioMetric)]
    )
    tokenizers = [audio_tokenizer_points(r) for r in results]
    targets = [p["measured_bitrate_kbps"] for t in tokenizers for p in t["points"]]
    opus, log = evaluate_opus(
        data=data or first["data"]["source"]["spec"],
        rule=rule,
        targets_kbps=targets,
        metrics=metric_names,
        sweep=sweep,
        tolerance=tolerance,
        skip_bad=skip_bad,
        limit=limit,
        min_samples=min_samples,
        progress=progress,
    )
    if log.manifest_sha256() != first["data"]["manifest_sha256"]:
        raise ValueError(
            "audio_rate_distortion: Opus saw different clips than the tokenizer results "
            f"(manifest {log.manifest_sha256()[:16]} vs {first['data']['manifest_sha256'][:16]});"
            " use the same --data, --limit, --max-seconds and --skip-bad"
        )
    codec_results = {"opus": opus}
    reference = {}
    for r in results:
        reference.update(r.get("reference_metrics") or {})
    return {
        "schema": RATE_DISTORTION_SCHEMA,
        "modality": "audio",
        "data": {**first["data"]},
        "protocol": {
            **{
                k: proto[k]
                for k in proto
                if k not in ("num_codebooks", "bitrates_kbps", "reconstructions_dir")
            },
            "rate_tolerance": tolerance,
            "rate_search": "per clip, the Opus --bitrate setting rescaled until the packet "
            "payload rate is closest to the tokenizer's measured kbps",
            "sweep_kbps": [float(b) for b in sweep],
            "metric_names": metric_names,
        },
        "metrics": {k: v for k, v in first["metrics"].items() if k in metric_names},
        "reference_metrics": {k: v for k, v in reference.items() if k in metric_names},
        "tokenizers": tokenizers,
        "codecs": codec_results,
        "comparison": compare_audio_at_matched_rate(tokenizers, codec_results, metric_names),
        "environment": environment_info(resolve_device(device)),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "created": utc_now(),
        "command": list(command) if command is not None else None,
    }


# --------------------------------------------------------------------------- reports
def audio_rate_distortion_markdown(rd: dict[str, Any]) -> str:
    """Markdown report: matched-rate table and a plain statement per bitrate and codec."""
    keys = rd["protocol"]["metric_names"]
    labels = [METRIC_LABELS.get(k, k) for k in keys]
    proto, data = rd["protocol"], rd["data"]
    tol = proto["rate_tolerance"]
    lines = [
        "# Rate-distortion: audio tokenizers vs Opus",
        "",
        f"- data: `{data['source']['spec']}` ({data['num_samples']} clips, "
        f"{data['total_seconds']:.1f} s, manifest sha256 `{data['manifest_sha256'][:16]}`), "
        f"{proto['sample_rate']} Hz, {proto['channels']} channel(s), {proto['crop']}",
        f"- Opus (`{rd['codecs']['opus']['settings']['encoder']}`, "
        f"{rd['codecs']['opus']['settings']['tools']}): setting searched per clip to the "
        f"tokenizer's measured kbps (tolerance {tol:.0%}); Opus kbps count the packet payload, "
        "as tokenizer kbps count the codes (whole-file rates in the JSON)",
        "",
        "## At matched rate",
        "",
    ]
    header = ["method", "codebooks / setting", "target kbps", "achieved kbps", "rate hit", *labels]
    rows = []
    for tok in rd["tokenizers"]:
        for p in tok["points"]:
            kbps = p["measured_bitrate_kbps"]
            rows.append(
                [f"`{tok['name']}`", p["num_codebooks"], f"{kbps:.3f}", f"{kbps:.3f}", "exact"]
                + [format_value(p["metrics"].get(k), k) for k in keys]
            )
            for c, res in rd["codecs"].items():
                m = _matched_entry(res, kbps)
                hit = f"{m['fraction_within_tolerance']:.0%}"
                if m["num_unreachable"]:
                    hit += f" ({m['num_unreachable']} unreachable)"
                rows.append(
                    [
                        variant_label(c),
                        f"{m['setting_kbps_min']:.3g}-{m['setting_kbps_max']:.3g} kbps",
                        f"{m['target_kbps']:.3f}",
                        f"{m['payload_kbps']:.3f}",
                        hit,
                    ]
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
        where = (
            f"`{row['tokenizer']}` at {row['num_codebooks']} codebook(s) "
            f"({row['bitrate_kbps']:.3f} kbps)"
        )
        codec = variant_label(row["codec"])
        if row["rate_matched"]:
            lines.append(f"- {where} vs {codec}: {clauses}.")
        else:
            ratio = row["codec_kbps"] / row["bitrate_kbps"]
            lines.append(
                f"- {where} vs {codec}: the codec could not match this rate for every clip (it "
                f"used {row['codec_kbps']:.3f} kbps, {ratio:.2f}x the tokenizer's rate); at that "
                f"rate the tokenizer is {clauses}."
            )
    lines += ["", "## Opus bitrate sweep", ""]
    sweep_rows = [
        [variant_label(c), f"{e['setting_kbps']:g}", f"{e['payload_kbps']:.3f}"]
        + [f"{e['file_kbps']:.3f}"]
        + [format_value(e["metrics"].get(k), k) for k in keys]
        for c, res in rd["codecs"].items()
        for e in res["sweep"]
    ]
    lines.append(
        markdown_table(["codec", "setting kbps", "payload kbps", "file kbps", *labels], sweep_rows)
    )
    return "\n".join(lines)
