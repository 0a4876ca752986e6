"""Reconstruction evaluation of an audio tokenizer, at every bitrate it supports.

Every clip goes through: decode (soundfile) -> the clip rule of :class:`.audio_sources.AudioRule`
(channels, optional crop, soxr resampling to the model's rate, clip to [-1, 1]) -> ``tokenize(x,
num_codebooks=k)`` for each ``k`` of ``supported_num_codebooks()`` (or those requested) ->
``detokenize(codes, length=samples)`` -> clip to [-1, 1] (what a WAV file would hold; saved
reconstructions are float32 WAV, exactly the measured samples) -> metrics against the original.
Clips are processed one at a time, so no clip is padded for batching.

The result has the image record's layout (``tokenizer``, ``data`` with manifest, ``protocol``,
``metrics``, ``results``, ``environment``), with rates in kbps: the nominal ``bitrate(k)`` and
the measured one (code bits of the whole set over its duration, which includes the rounding of
each clip up to whole frames). No-reference metrics (DNSMOS) are also reported for the originals
(``reference_metrics``), the ceiling a codec can reach on this data.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from zoo._io import atomic_file
from zoo.evaluation.audio_sources import AudioRule, iter_audio_clips, open_audio_source
from zoo.evaluation.protocol import (
    RECONSTRUCTION_SCHEMA,
    environment_info,
    format_value,
    markdown_table,
    package_versions,
    utc_now,
)
from zoo.evaluation.reconstruct import (
    EVALUATORS,
    resolve_device,
    tokenizer_info,
)
from zoo.evaluation.sources import DataLog
from zoo.metrics import (
    DEFAULT_METRICS,
    METRIC_LABELS,
    NO_REFERENCE_METRICS,
    CodebookUsage,
    audio_code_bits,
    create_metrics,
    expand_audio_metric_names,
)
from zoo.metrics.audio import AudioMetric

#: Python packages whose versions an audio result records.
AUDIO_PACKAGES = ("soundfile", "soxr", "pesq", "pystoi", "speechmos", "onnxruntime", "librosa")


def resolve_num_codebooks(tokenizer: Any, num_codebooks: Sequence[int] | None) -> list[int]:
    """Codebook counts to evaluate: every supported one by default, else those given."""
    allowed = list(tokenizer.supported_num_codebooks())
    if not num_codebooks:
        return allowed
    ks = [int(k) for k in num_codebooks]
    bad = [k for k in ks if k not in allowed]
    if bad:
        raise ValueError(
            f"--num-codebooks {bad}: {tokenizer._label} supports {allowed} codebooks "
            f"({', '.join(f'{tokenizer.bitrate(k) / 1000:.3g}' for k in allowed)} kbps)"
        )
    if len(set(ks)) != len(ks):
        raise ValueError(f"--num-codebooks {ks}: duplicate codebook counts")
    return sorted(ks)


def audio_tokenizer_info(tokenizer: Any, name: str) -> dict[str, Any]:
    """:func:`.reconstruct.tokenizer_info` plus the audio format and the bitrate ladder."""
    ks = list(tokenizer.supported_num_codebooks())
    return {
        **tokenizer_info(tokenizer, name),
        "sample_rate": int(tokenizer.sample_rate),
        "channels": int(tokenizer.channels),
        "hop_length": int(tokenizer.hop_length),
        "frame_rate": float(tokenizer.frame_rate),
        "causal": bool(getattr(tokenizer, "causal", False)),
        "supported_num_codebooks": ks,
        "bitrates_kbps": {str(k): tokenizer.bitrate(k) / 1000 for k in ks},
    }


def _min_samples(tokenizer: Any, metrics: dict[str, Any]) -> int:
    """The longest of: one frame, and what every metric needs."""
    need = [int(tokenizer.hop_length)]
    need += [m.min_samples for m in metrics.values() if isinstance(m, AudioMetric)]
    return max(need)


def evaluate_audio_reconstruction(
    tokenizer: Any,
    *,
    model_name: str,
    data: str,
    num_codebooks: Sequence[int] | None = None,
    metrics: Sequence[str] | None = None,
    max_seconds: float | None = None,
    device: str = "auto",
    save_reconstructions: str | None = None,
    skip_bad: bool = False,
    limit: int | None = None,
    progress: bool = True,
    command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Evaluate an audio tokenizer on ``data``; returns the result dict (see :mod:`.protocol`).

    Args:
        tokenizer: a loaded audio tokenizer (``modality == "audio"``).
        model_name: the name or path it was loaded by (recorded).
        data: a folder of audio files, ``"speech"`` or ``"alsa"`` (see :mod:`.audio_sources`).
        num_codebooks: codebook counts (bitrates) to evaluate; default every supported one.
        metrics: keys from :data:`zoo.metrics.AUDIO_METRICS` (``"dnsmos"`` for its three
            scores); default mel and STFT distance, SI-SDR, PESQ, STOI.
        max_seconds: evaluate only the first ``max_seconds`` of every clip.
        save_reconstructions: folder for float32 WAV reconstructions named after the inputs
            (one subfolder ``codebooks_<k>`` per bitrate when several are evaluated).
        skip_bad: skip unusable files (unreadable, NaN, too short, silent; listed in the result)
            instead of stopping.
        limit: evaluate only the first ``limit`` clips.
    """
    start = time.perf_counter()
    if tokenizer.modality != "audio":
        raise ValueError(f"{tokenizer._label}: not an audio tokenizer ({tokenizer.modality!r})")
    dev = resolve_device(device)
    ks = resolve_num_codebooks(tokenizer, num_codebooks)
    rule = AudioRule(int(tokenizer.sample_rate), int(tokenizer.channels), max_seconds)
    source = open_audio_source(data)  # a wrong path fails before any network is loaded
    names = expand_audio_metric_names(list(metrics) if metrics else DEFAULT_METRICS["audio"])
    sr = rule.sample_rate
    sets = create_metrics("audio", names, copies=len(ks), sample_rate=sr)
    sets = [{k: m.to(dev) for k, m in s.items()} for s in sets]
    no_ref = [n for n in names if n in NO_REFERENCE_METRICS]
    reference = create_metrics("audio", no_ref, sample_rate=sr)[0] if no_ref else {}
    usage = [
        CodebookUsage(codebook_size=tokenizer.codebook_size, num_codebooks=k).to(dev) for k in ks
    ]
    log = DataLog()
    tokenizer = tokenizer.to(dev).eval()
    code_bits = [0.0] * len(ks)
    total_samples = 0
    out_dirs = _output_dirs(save_reconstructions, ks)
    clips = iter_audio_clips(
        source,
        rule,
        skip_bad=skip_bad,
        log=log,
        limit=limit,
        min_samples=_min_samples(tokenizer, sets[0]),
        reject_silent=any(getattr(m, "needs_reference_signal", False) for m in sets[0].values()),
    )
    from tqdm.auto import tqdm

    total = len(source) if limit is None else min(limit, len(source))
    bar = tqdm(
        clips, total=total, desc=f"reconstruct {model_name}", unit="clip", disable=not progress
    )
    with torch.no_grad():
        for clip in bar:
            x = clip.audio.to(dev)
            total_samples += x.shape[-1]
            for metric in reference.values():
                metric.update(x, x)
            for i, k in enumerate(ks):
                codes = tokenizer.tokenize(x, num_codebooks=k)
                x_hat = tokenizer.detokenize(codes, length=x.shape[-1]).float().clamp(-1.0, 1.0)
                for metric in sets[i].values():
                    metric.update(x_hat, x)
                usage[i].update(codes)
                code_bits[i] += audio_code_bits(tokenizer, codes)
                if out_dirs:
                    _save_wav(x_hat, clip.name, out_dirs[i], sr)
    seconds = total_samples / sr
    results = []
    for i, k in enumerate(ks):
        nominal = float(tokenizer.bitrate(k))
        results.append(
            {
                "num_codebooks": k,
                "bitrate_kbps": nominal / 1000,
                "measured_bitrate_kbps": code_bits[i] / seconds / 1000,
                "tokens_per_second": float(tokenizer.frame_rate),
                "bits_per_frame": nominal / float(tokenizer.frame_rate),
                "metrics": {key: float(m.compute()) for key, m in sets[i].items()},
                "codebook": usage[i].compute(),
            }
        )
    metric_info = {key: m.describe() for key, m in sets[0].items()}
    metric_info["codebook"] = usage[0].describe()
    env = environment_info(dev)
    env["packages"] = package_versions(AUDIO_PACKAGES)
    return {
        "schema": RECONSTRUCTION_SCHEMA,
        "modality": "audio",
        "tokenizer": audio_tokenizer_info(tokenizer, model_name),
        "data": {
            "source": source.describe(),
            "num_samples": len(log.manifest),
            "num_skipped": len(log.skipped),
            "skipped": log.skipped,
            "limit": limit,
            "total_seconds": round(seconds, 6),
            "manifest_sha256": log.manifest_sha256(),
            "manifest": log.manifest,
        },
        "protocol": {
            **rule.describe(),
            "input": "soundfile float32 -> clip rule -> (1, C, samples) float32",
            "reconstruction": "detokenize(codes, length=samples), clipped to [-1, 1], float32",
            "batch_size": 1,
            "batching": "one clip per forward pass (no padding)",
            "num_codebooks": ks,
            "bitrates_kbps": [r["bitrate_kbps"] for r in results],
            "metric_names": names,
            "reconstructions_dir": str(save_reconstructions) if save_reconstructions else None,
        },
        "metrics": metric_info,
        "reference_metrics": {key: float(m.compute()) for key, m in reference.items()},
        "results": results,
        "environment": env,
        "wall_time_s": round(time.perf_counter() - start, 3),
        "created": utc_now(),
        "command": list(command) if command is not None else None,
    }


def _output_dirs(root: str | None, ks: Sequence[int]) -> list[Path] | None:
    if root is None:
        return None
    base = Path(root)
    dirs = [base / f"codebooks_{k}" for k in ks] if len(ks) > 1 else [base]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def _save_wav(audio: torch.Tensor, name: str, out: Path, sample_rate: int) -> None:
    import soundfile as sf

    dst = out / (name + ".wav" if not name.lower().endswith(".wav") else name)
    with atomic_file(dst, clean_stale=False) as tmp:
        sf.write(tmp, audio[0].T.cpu().numpy(), sample_rate, subtype="FLOAT", format="WAV")


EVALUATORS["audio"] = evaluate_audio_reconstruction


# --------------------------------------------------------------------------- Markdown
def audio_result_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-bitrate table of an audio reconstruction result."""
    keys = list(result["protocol"]["metric_names"])
    header = ["codebooks", "kbps", "measured kbps"] + [METRIC_LABELS.get(k, k) for k in keys]
    header += ["codebook usage", "perplexity", "code entropy (bits)"]
    rows = []
    for r in result["results"]:
        cb = r["codebook"]
        rows.append(
            [str(r["num_codebooks"]), f"{r['bitrate_kbps']:.3g}"]
            + [f"{r['measured_bitrate_kbps']:.3f}"]
            + [format_value(r["metrics"].get(k), k) for k in keys]
            + [
                f"{cb['codebook_usage']:.4f}",
                f"{cb['perplexity']:.1f}",
                f"{cb['code_entropy_bits']:.2f} / {cb['max_entropy_bits']:.2f}",
            ]
        )
    ref = result.get("reference_metrics") or {}
    if ref:
        rows.append(
            ["originals", "–", "–"]
            + [format_value(ref.get(k), k) if k in ref else "–" for k in keys]
            + ["–", "–", "–"]
        )
    return header, rows


def audio_reconstruction_markdown(result: dict[str, Any]) -> str:
    """The Markdown report written next to an audio reconstruction result JSON."""
    tok, data, proto = result["tokenizer"], result["data"], result["protocol"]
    header, rows = audio_result_rows(result)
    channels = {1: "mono", 2: "stereo"}.get(proto["channels"], f"{proto['channels']} channels")
    lines = [
        f"# Reconstruction: `{tok['name']}`",
        "",
        f"- data: `{data['source']['spec']}` ({data['num_samples']} clips, "
        f"{data['total_seconds']:.1f} s, {data['num_skipped']} skipped; manifest sha256 "
        f"`{data['manifest_sha256'][:16]}`)",
        f"- {proto['sample_rate']} Hz {channels}, {proto['crop']}, resampled with "
        f"{proto['resampler']}; metrics on reconstructions clipped to [-1, 1]",
        f"- {tok['frame_rate']:g} frames/s; kbps = nominal bitrate, measured kbps = code bits of "
        "the whole set over its duration",
        f"- tokenizer config sha256 `{tok['config_sha256'][:16]}`, weights sha256 "
        f"`{tok['weights_sha256'][:16]}`",
        f"- {result['environment']['device']}, {result['wall_time_s']:.1f} s, "
        f"zoo {result['environment']['zoo_version']}",
    ]
    if tok.get("random_init"):
        lines.append("- **random weights** (a plumbing run; these numbers mean nothing)")
    if result.get("reference_metrics"):
        lines.append("- DNSMOS needs no reference: the row `originals` scores the input clips")
    lines += ["", markdown_table(header, rows)]
    return "\n".join(lines)
