"""Rate-distortion: image tokenizers against classical codecs (JPEG, WebP, AVIF) at matched rate
(audio tokenizers against Opus: :mod:`.rate_distortion_audio`).

For every rate a tokenizer operates at (bits per image, per token count), each codec's quality is
searched per image so that the file size matches the same number of bits (within a tolerance,
default 5%; :func:`zoo.evaluation.codecs.match_rate`); the decoded images are measured with the
same metrics, on the same preprocessed uint8 originals, as the tokenizer's reconstructions. A
quality sweep per codec draws its whole curve. Everything lands in one JSON, a Markdown report
that states per rate whether the tokenizer is ahead of or behind each codec, and a PNG plot of
every metric against bits per pixel.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from zoo.evaluation.codecs import (
    available_codecs,
    decode,
    encode,
    get_codec,
    match_rate,
    variant_label,
)
from zoo.evaluation.protocol import (
    RATE_DISTORTION_SCHEMA,
    environment_info,
    format_value,
    markdown_table,
    utc_now,
    validate_result,
)
from zoo.evaluation.reconstruct import resolve_device
from zoo.evaluation.sources import (
    DataLog,
    ResizeRule,
    iter_image_batches,
    num_batches,
    open_image_source,
)
from zoo.metrics import HIGHER_IS_BETTER, METRIC_LABELS, FrechetDistance, create_metrics

#: Default quality sweep (same list for every codec; each uses the values inside its range).
DEFAULT_SWEEP = (1, 5, 10, 20, 30, 50, 70, 90)
#: Coding resolutions by default: full, and half / quarter to reach tokenizer-like low rates.
DEFAULT_SCALES = (1.0, 0.5, 0.25)


def tokenizer_points(result: dict[str, Any]) -> dict[str, Any]:
    """The rate-distortion points of a reconstruction result."""
    return {
        "name": result["tokenizer"]["name"],
        "architecture": result["tokenizer"]["architecture"],
        "config_sha256": result["tokenizer"]["config_sha256"],
        "weights_sha256": result["tokenizer"]["weights_sha256"],
        "bits_per_token": result["tokenizer"].get("bits_per_token"),
        "points": [
            {
                "num_tokens": r["num_tokens"],
                "bits_per_image": r["bits_per_image"],
                "bits_per_pixel": r["bits_per_pixel"],
                "metrics": r["metrics"],
            }
            for r in result["results"]
        ],
    }


def evaluate_codecs(
    *,
    data: str,
    rule: ResizeRule,
    targets_bits: Sequence[float],
    codecs: Sequence[str] | None = None,
    metrics: Sequence[str] = ("psnr", "ssim", "fd_efflite0"),
    weights: dict[str, str | None] | None = None,
    sweep: Sequence[float] = DEFAULT_SWEEP,
    scales: Sequence[float] = DEFAULT_SCALES,
    tolerance: float = 0.05,
    batch_size: int = 16,
    skip_bad: bool = False,
    limit: int | None = None,
    device: str = "auto",
    progress: bool = True,
    points_per_pass: int = 16,
) -> tuple[dict[str, Any], DataLog]:
    """Measure each codec, at each coding resolution ``scales``, at every target rate (bits per
    image) and over a quality sweep.

    Returns ``({variant: {"settings", "matched": [...], "sweep": [...]}}, data log)``; variants
    are named ``"jpeg"`` (full resolution) or ``"jpeg@0.5x"`` (coded at half resolution). The
    data is read once per ``points_per_pass`` (variant, rate) points, which bounds the memory of
    the Fréchet-distance statistics (13 MB per point for EfficientNet-Lite0, 34 MB for FID).
    """
    dev = resolve_device(device)
    codecs = list(codecs) if codecs else available_codecs()
    for c in codecs:
        get_codec(c)  # clear error for unknown / unsupported codecs
    if not scales or any(not 0 < sc <= 1 for sc in scales):
        raise ValueError(f"codec scales must lie in (0, 1], got {list(scales)}")
    variants = {(c if sc == 1 else f"{c}@{sc:g}x"): (c, float(sc)) for c in codecs for sc in scales}
    targets = sorted(set(float(t) for t in targets_bits))
    points: list[tuple[str, str, float]] = []  # (variant, "matched" | "sweep", target / quality)
    for name, (c, _) in variants.items():
        codec = get_codec(c)
        points += [(name, "matched", t) for t in targets]
        points += [
            (name, "sweep", float(q)) for q in sweep if codec.quality_min <= q <= codec.quality_max
        ]
    source = open_image_source(data)  # a wrong path fails before any network is loaded
    stats = [
        {"bytes": [], "quality": [], "within": 0, "unreachable": 0, "rel_err": []} for _ in points
    ]
    values: list[dict[str, float]] = [{} for _ in points]
    # Each metric set holds (D, D) float64 feature statistics, so points are measured in passes
    # over the data of at most `points_per_pass` sets; the sets (and networks) are reused.
    per_pass = max(1, min(points_per_pass, len(points)))
    sets = create_metrics("image", list(metrics), copies=per_pass, weights=weights)
    sets = [{k: m.to(dev) for k, m in s.items()} for s in sets]
    from tqdm.auto import tqdm

    log: DataLog | None = None
    for start in range(0, len(points), per_pass):
        chunk = list(range(start, min(start + per_pass, len(points))))
        for metric_set in sets:
            for metric in metric_set.values():
                metric.reset()
        pass_log = DataLog()
        batches = iter_image_batches(
            source, rule, batch_size=batch_size, skip_bad=skip_bad, log=pass_log, limit=limit
        )
        bar = tqdm(
            batches,
            total=num_batches(source, batch_size, limit),
            desc=f"codecs {chunk[-1] + 1}/{len(points)}",
            unit="batch",
            disable=not progress,
        )
        for batch in bar:
            x_u8 = batch.images.to(dev)
            for metric in sets[0].values():  # originals once; the other sets compare against them
                if isinstance(metric, FrechetDistance):
                    metric.update(target=x_u8)
            arrays = batch.images.permute(0, 2, 3, 1).numpy()
            size = tuple(arrays.shape[1:3])
            for j, i in enumerate(chunk):
                name, kind, value = points[i]
                c, scale = variants[name]
                decoded = []
                for img in arrays:
                    if kind == "matched":
                        m = match_rate(c, img, value / 8.0, tolerance=tolerance, scale=scale)
                        data_bytes, quality = m.data, m.quality
                        stats[i]["within"] += int(m.within_tolerance)
                        stats[i]["unreachable"] += int(not m.reachable)
                        stats[i]["rel_err"].append(m.relative_error)
                    else:
                        data_bytes, quality = encode(c, img, value, scale=scale), value
                    stats[i]["bytes"].append(len(data_bytes))
                    stats[i]["quality"].append(quality)
                    decoded.append(decode(data_bytes, size=size))
                rec = torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2).to(dev)
                for metric in sets[j].values():
                    if isinstance(metric, FrechetDistance):
                        metric.update(rec)
                    else:
                        metric.update(rec, x_u8)
        for j, i in enumerate(chunk):
            values[i] = {k: float(m.compute()) for k, m in sets[j].items()}
        if log is None:
            log = pass_log
        elif pass_log.manifest_sha256() != log.manifest_sha256():
            raise RuntimeError(f"data {data!r} changed while the codecs were measured")
    assert log is not None
    h, w = rule.resolution
    out: dict[str, Any] = {
        name: {
            "settings": {
                **get_codec(c).describe(),
                "codec": c,
                "scale": sc,
                "resampling": None
                if sc == 1
                else "PIL bicubic (antialiased) down before coding, bicubic up after decoding",
            },
            "matched": [],
            "sweep": [],
        }
        for name, (c, sc) in variants.items()
    }
    for i, (c, kind, value) in enumerate(points):
        s = stats[i]
        mean_bytes = float(np.mean(s["bytes"]))
        entry: dict[str, Any] = {
            "bits_per_image": mean_bytes * 8,
            "bits_per_pixel": mean_bytes * 8 / (h * w),
            "quality_mean": float(np.mean(s["quality"])),
            "metrics": values[i],
        }
        if kind == "matched":
            n = len(s["bytes"])
            entry = {
                "target_bits_per_image": value,
                "target_bits_per_pixel": value / (h * w),
                **entry,
                "fraction_within_tolerance": s["within"] / n,
                "num_unreachable": s["unreachable"],
                "mean_relative_error": float(np.mean(s["rel_err"])),
                "max_abs_relative_error": float(np.max(np.abs(s["rel_err"]))),
                "quality_min": float(np.min(s["quality"])),
                "quality_max": float(np.max(s["quality"])),
            }
        else:
            entry = {"quality": value, **entry}
        out[c][kind].append(entry)
    return out, log


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
    tokenizers: list[dict[str, Any]], codecs: dict[str, Any], metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """For every tokenizer point and codec: both metric values and who is ahead."""
    rows = []
    for tok in tokenizers:
        for p in tok["points"]:
            for c, res in codecs.items():
                m = next(
                    e
                    for e in res["matched"]
                    if abs(e["target_bits_per_image"] - p["bits_per_image"]) < 1e-9
                )
                matched = m["fraction_within_tolerance"] == 1.0
                verdict = compare_metrics(p["metrics"], m["metrics"], metrics)
                rows.append(
                    {
                        "tokenizer": tok["name"],
                        "num_tokens": p["num_tokens"],
                        "bits_per_pixel": p["bits_per_pixel"],
                        "codec": c,
                        "codec_bits_per_pixel": m["bits_per_pixel"],
                        "rate_matched": matched,
                        "tokenizer_metrics": p["metrics"],
                        "codec_metrics": m["metrics"],
                        "tokenizer_is": verdict,
                    }
                )
    return rows


def rate_distortion(
    *,
    results: list[dict[str, Any]],
    data: str | None = None,
    codecs: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    weights: dict[str, str | None] | None = None,
    sweep: Sequence[float] = DEFAULT_SWEEP,
    scales: Sequence[float] = DEFAULT_SCALES,
    tolerance: float = 0.05,
    batch_size: int = 16,
    skip_bad: bool = False,
    limit: int | None = None,
    device: str = "auto",
    progress: bool = True,
    command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The rate-distortion result for tokenizer results (from :mod:`.reconstruct`) and codecs.

    All tokenizer results must come from the same data (manifest), resolution and resize rule;
    the codecs then run on exactly those images (``data`` defaults to the results' source).
    """
    start = time.perf_counter()
    if not results:
        raise ValueError("rate_distortion: need at least one tokenizer result")
    for i, r in enumerate(results):
        validate_result(r, source=f"tokenizer result {i}")
        if r.get("modality", "image") != "image":
            raise ValueError(
                f"rate_distortion: result {i} is {r['modality']!r}; this compares images with "
                "JPEG/WebP/AVIF, use zoo.evaluation.rate_distortion_audio.audio_rate_distortion "
                "(Opus) for audio"
            )
    first = results[0]
    for r in results[1:]:
        for what, get in (
            ("data manifest", lambda x: x["data"]["manifest_sha256"]),
            ("resolution", lambda x: x["protocol"]["resolution"]),
            ("resize rule", lambda x: x["protocol"]["resize"]),
        ):
            if get(r) != get(first):
                raise ValueError(
                    f"rate_distortion: {r['tokenizer']['name']!r} and "
                    f"{first['tokenizer']['name']!r} were evaluated with different {what}s; "
                    "evaluate all tokenizers on the same data and resolution"
                )
    proto = first["protocol"]
    rule = ResizeRule(
        tuple(proto["resolution"]),
        proto["resize"]["mode"],
        proto["resize"]["interpolation"] or "bicubic",
    )
    metric_names = (
        list(metrics)
        if metrics
        else [
            k for k in proto["metric_names"] if k in ("psnr", "ssim", "lpips", "fd_efflite0", "fid")
        ]
    )
    missing = [k for k in metric_names for r in results if k not in r["results"][0]["metrics"]]
    if missing:
        raise ValueError(
            f"rate_distortion: metrics {sorted(set(missing))} are missing from some tokenizer "
            "results; evaluate the tokenizers with the same --metrics"
        )
    # The codecs must see exactly the tokenizers' images (checked through the manifest below).
    if limit is None:
        limit = first["data"].get("limit")
    skip_bad = skip_bad or bool(first["data"]["skipped"])
    tokenizers = [tokenizer_points(r) for r in results]
    targets = [p["bits_per_image"] for t in tokenizers for p in t["points"]]
    codec_results, log = evaluate_codecs(
        data=data or first["data"]["source"]["spec"],
        rule=rule,
        targets_bits=targets,
        codecs=codecs,
        metrics=metric_names,
        weights=weights,
        sweep=sweep,
        scales=scales,
        tolerance=tolerance,
        batch_size=batch_size,
        skip_bad=skip_bad,
        limit=limit,
        device=device,
        progress=progress,
    )
    if log.manifest_sha256() != first["data"]["manifest_sha256"]:
        raise ValueError(
            "rate_distortion: the codecs saw different images than the tokenizer results "
            f"(manifest {log.manifest_sha256()[:16]} vs {first['data']['manifest_sha256'][:16]});"
            " use the same --data, --limit and --skip-bad"
        )
    return {
        "schema": RATE_DISTORTION_SCHEMA,
        "modality": "image",
        "data": {**first["data"]},
        "protocol": {
            "resolution": proto["resolution"],
            "resize": proto["resize"],
            "value_range": proto["value_range"],
            "png_round_trip": proto["png_round_trip"],
            "rate_tolerance": tolerance,
            "rate_search": "per image, bisection over the codec's quality setting to the file "
            "size closest to the tokenizer's bits per image",
            "sweep_qualities": list(sweep),
            "codec_scales": list(scales),
            "metric_names": metric_names,
        },
        "metrics": {k: v for k, v in first["metrics"].items() if k in metric_names},
        "tokenizers": tokenizers,
        "codecs": codec_results,
        "comparison": compare_at_matched_rate(tokenizers, codec_results, metric_names),
        "environment": environment_info(resolve_device(device)),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "created": utc_now(),
        "command": list(command) if command is not None else None,
    }


# --------------------------------------------------------------------------- reports
def rate_distortion_markdown(rd: dict[str, Any]) -> str:
    """Markdown report: matched-rate table and a plain statement per rate and codec."""
    keys = rd["protocol"]["metric_names"]
    labels = [METRIC_LABELS.get(k, k) for k in keys]
    h, w = rd["protocol"]["resolution"]
    tol = rd["protocol"]["rate_tolerance"]
    lines = [
        "# Rate-distortion: tokenizers vs classical codecs",
        "",
        f"- data: `{rd['data']['source']['spec']}` ({rd['data']['num_samples']} images, "
        f"manifest sha256 `{rd['data']['manifest_sha256'][:16]}`), {h}x{w}, "
        f"{rd['protocol']['resize']['rule']}",
        f"- codec quality searched per image to the tokenizer's bits per image (tolerance "
        f"{tol:.0%}); rates are whole files, headers included",
        "- FD-EffLite0 is a Fréchet distance on EfficientNet-Lite0 features, not FID",
        "",
        "## At matched rate",
        "",
    ]
    header = ["method", "tokens / quality", "target bpp", "achieved bpp", "rate hit", *labels]
    rows = []
    for tok in rd["tokenizers"]:
        for p in tok["points"]:
            bpp = p["bits_per_pixel"]
            rows.append(
                [f"`{tok['name']}`", p["num_tokens"], f"{bpp:.4f}", f"{bpp:.4f}", "exact"]
                + [format_value(p["metrics"].get(k), k) for k in keys]
            )
            for c, res in rd["codecs"].items():
                m = next(
                    e
                    for e in res["matched"]
                    if abs(e["target_bits_per_image"] - p["bits_per_image"]) < 1e-9
                )
                hit = f"{m['fraction_within_tolerance']:.0%}"
                if m["num_unreachable"]:
                    hit += f" ({m['num_unreachable']} unreachable)"
                rows.append(
                    [
                        variant_label(c),
                        f"q {m['quality_min']:.3g}-{m['quality_max']:.3g}",
                        f"{m['target_bits_per_pixel']:.4f}",
                        f"{m['bits_per_pixel']:.4f}",
                        hit,
                    ]
                    + [format_value(m["metrics"].get(k), k) for k in keys]
                )
    lines += [markdown_table(header, rows), "## Verdict", ""]
    for row in rd["comparison"]:
        clauses = verdict_clauses(row)
        where = (
            f"`{row['tokenizer']}` at {row['num_tokens']} tokens ({row['bits_per_pixel']:.4f} bpp)"
        )
        codec = variant_label(row["codec"])
        if row["rate_matched"]:
            lines.append(f"- {where} vs {codec}: {clauses}.")
        else:
            ratio = row["codec_bits_per_pixel"] / row["bits_per_pixel"]
            lines.append(
                f"- {where} vs {codec}: the codec could not match this rate for every image (it "
                f"used {row['codec_bits_per_pixel']:.4f} bpp on average, {ratio:.2f}x the "
                f"tokenizer's rate); at that rate the tokenizer is {clauses}."
            )
    lines += ["", "## Codec quality sweep", ""]
    sweep_rows = [
        [variant_label(c), f"{e['quality']:g}", f"{e['bits_per_pixel']:.4f}"]
        + [format_value(e["metrics"].get(k), k) for k in keys]
        for c, res in rd["codecs"].items()
        for e in res["sweep"]
    ]
    lines.append(markdown_table(["codec", "quality", "bpp", *labels], sweep_rows))
    return "\n".join(lines)
