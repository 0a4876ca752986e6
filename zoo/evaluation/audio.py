"""Audio evaluation: the :class:`AudioEvaluator` of ``zoo.modalities.audio``, at every bitrate
a codec supports.

Every clip goes through: decode -> the clip rule of :class:`.audio_sources.AudioRule` (channels,
optional crop, resampling to the model's rate, clip to [-1, 1]) -> ``tokenize(x,
num_codebooks=k)`` for each ``k`` of ``supported_num_codebooks()`` (or those requested) ->
``detokenize(codes, length=samples)`` -> clip to [-1, 1] (what a WAV file would hold; saved
reconstructions are float32 WAV, exactly the measured samples) -> metrics against the original.
Clips are processed one at a time, so no clip is padded for batching.

Rates are in kbps: the nominal ``bitrate(k)`` and the measured one (code bits of the whole set
over its duration, which includes the rounding of each clip up to whole frames). No-reference
metrics (DNSMOS) are also reported for the originals (``reference_metrics``), the ceiling a codec
can reach on this data. The classical baseline is Opus (:mod:`.baselines.opus`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import soundfile as sf
import torch
from torch import Tensor

from zoo._argtypes import float_in
from zoo._io import atomic_file
from zoo.evaluation.audio_sources import AudioRule, iter_audio_clips, open_audio_source
from zoo.evaluation.baselines.opus import AUDIO_CODECS, DEFAULT_OPUS_SWEEP, evaluate_opus
from zoo.evaluation.cli import float_list
from zoo.evaluation.protocol import COMMON_REQUIRED_FIELDS, package_versions
from zoo.evaluation.runner import Batch, Evaluator, RateStats, Run, finite_labelled
from zoo.evaluation.sources import DataLog
from zoo.metrics import (
    AUDIO_METRICS,
    DEFAULT_METRICS,
    NO_REFERENCE_METRICS,
    audio_code_bits,
    create_metrics,
    expand_audio_metric_names,
)
from zoo.metrics.audio import AudioMetric

#: Python packages whose versions an audio result records.
AUDIO_PACKAGES = ("soundfile", "soxr", "pesq", "pystoi", "speechmos", "onnxruntime", "librosa")
#: The dotted paths an audio reconstruction result holds.
AUDIO_REQUIRED_FIELDS = COMMON_REQUIRED_FIELDS[:9] + (
    "tokenizer.sample_rate", "tokenizer.frame_rate", "data.source", "data.num_samples",
    "data.total_seconds", "data.manifest", "data.manifest_sha256", "data.skipped",
    "protocol.sample_rate", "protocol.channels", "protocol.channel_rule", "protocol.max_seconds",
    "protocol.resampler", "protocol.value_range", "protocol.batch_size", "protocol.num_codebooks",
    "protocol.metric_names",
) + COMMON_REQUIRED_FIELDS[14:]  # fmt: skip
#: Fields of every entry of an audio result's ``results``.
AUDIO_REQUIRED_RESULT_FIELDS = (
    "num_codebooks", "bitrate_kbps", "measured_bitrate_kbps", "metrics", "codebook",
)  # fmt: skip


def min_samples(hop_length: int, metrics: dict[str, Any]) -> int:
    """The longest of: one frame, and what every metric needs."""
    need = [int(hop_length)]
    need += [m.min_samples for m in metrics.values() if isinstance(m, AudioMetric)]
    return max(need)


class AudioEvaluator(Evaluator):
    """Audio ``(B, channels, samples)``; rate axis: codebook counts (kbps)."""

    name = "audio"
    items, item, unit = "clips", "clip", "clip"
    rate_option = "num_codebooks"
    rate_help = (
        "audio: codebook counts (bitrates) to evaluate, e.g. 1,2,4 (default: every one the "
        "tokenizer supports)"
    )
    default_metrics = DEFAULT_METRICS["audio"]
    metric_keys = AUDIO_METRICS
    data_help = (
        "audio: a folder of audio files, 'speech' (built-in real speech: alsa-utils prompts + Tux "
        "Paint descriptions) or 'alsa' (the 8 alsa-utils prompts)"
    )
    save_help = "audio: float32 WAV"
    required_fields = AUDIO_REQUIRED_FIELDS
    required_result_fields = AUDIO_REQUIRED_RESULT_FIELDS
    board_rate = ("kbps", "kbps", "{:.3f}")
    board_setting = "codebooks / setting"
    protocol_parts = "sample rate, channels, crop or metric weights differ"

    # ------------------------------------------------------------------ CLI
    def add_arguments(self, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--max-seconds", type=float_in(0, 24 * 3600, low_open=True),
                           default=None, help="audio: evaluate only the first N seconds of every "
                           "clip (default: whole clips)")  # fmt: skip

    def add_baseline_arguments(self, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--opus-sweep", type=float_list, default=None,
                           help="audio: Opus bitrates in kbps for its curve (default "
                           f"{','.join(f'{b:g}' for b in DEFAULT_OPUS_SWEEP)})")  # fmt: skip

    def options(self, args: argparse.Namespace) -> dict[str, Any]:
        return {**super().options(args), "max_seconds": args.max_seconds}

    def baseline_options(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"sweep": args.opus_sweep or DEFAULT_OPUS_SWEEP}

    # ------------------------------------------------------------------ the run
    def rates(self, run: Run, requested: Sequence[int] | None) -> list[int]:
        """Codebook counts to evaluate: every supported one by default, else those given."""
        tok = run.tokenizer
        allowed = list(tok.supported_num_codebooks())
        if not requested:
            return allowed
        ks = [int(k) for k in requested]
        bad = [k for k in ks if k not in allowed]
        if bad:
            raise ValueError(
                f"--num-codebooks {bad}: {tok._label} supports {allowed} codebooks "
                f"({', '.join(f'{tok.bitrate(k) / 1000:.3g}' for k in allowed)} kbps)"
            )
        if len(set(ks)) != len(ks):
            raise ValueError(f"--num-codebooks {ks}: duplicate codebook counts")
        return sorted(ks)

    def setup(self, run: Run) -> None:
        tok = run.tokenizer
        run.state["rule"] = AudioRule(int(tok.sample_rate), int(tok.channels),
                                      run.options.get("max_seconds"))  # fmt: skip
        run.state["samples"] = 0

    def open_data(self, spec: str, run: Run) -> Any:
        return open_audio_source(spec)

    def batches(self, run: Run, source: Any, *, log: DataLog, skip_bad: bool,
                limit: int | None) -> Iterator[Batch]:  # fmt: skip
        metrics = run.state["metrics"]
        clips = iter_audio_clips(
            source, run.state["rule"], skip_bad=skip_bad, log=log, limit=limit,
            min_samples=min_samples(run.tokenizer.hop_length, metrics),
            reject_silent=any(getattr(m, "needs_reference_signal", 0) for m in metrics.values()),
        )  # fmt: skip
        for clip in clips:
            run.state["samples"] += clip.audio.shape[-1]
            yield Batch([clip.name], clip.audio)

    def metric_names(self, run: Run, requested: Sequence[str] | None) -> list[str]:
        return expand_audio_metric_names(super().metric_names(run, requested))

    def create_metrics(self, run: Run, names: Sequence[str], copies: int) -> list[dict[str, Any]]:
        rate = run.state["rule"].sample_rate
        return create_metrics("audio", names, copies=copies, sample_rate=rate)

    def reference_metrics(self, run: Run, names: Sequence[str]) -> dict[str, Any]:
        no_ref = [n for n in names if n in NO_REFERENCE_METRICS]
        return self.create_metrics(run, no_ref, 1)[0] if no_ref else {}

    def reconstruct(self, run: Run, x: Tensor, rate: Any) -> tuple[Tensor, Tensor, Tensor]:
        codes = run.tokenizer.tokenize(x, num_codebooks=rate)
        x_hat = run.tokenizer.detokenize(codes, length=x.shape[-1]).float().clamp(-1.0, 1.0)
        return codes, x_hat, x_hat

    def usage_codebooks(self, run: Run, rate: Any) -> int:
        return int(rate)

    def code_bits(self, run: Run, codes: Tensor) -> float:
        return audio_code_bits(run.tokenizer, codes)

    def rate_fields(self, run: Run, rate: Any, stats: RateStats) -> dict[str, Any]:
        tok = run.tokenizer
        nominal = float(tok.bitrate(rate))
        seconds = run.state["samples"] / run.state["rule"].sample_rate
        return {
            "num_codebooks": rate,
            "bitrate_kbps": nominal / 1000,
            "measured_bitrate_kbps": stats.bits / seconds / 1000,
            "tokens_per_second": float(tok.frame_rate),
            "bits_per_frame": nominal / float(tok.frame_rate),
        }

    def rate_dir(self, rate: Any) -> str:
        return f"codebooks_{rate}"

    def write_reconstructions(
        self, run: Run, saved: Tensor, names: Sequence[str], folder: Path
    ) -> None:
        (name,) = names
        dst = folder / (name + ".wav" if not name.lower().endswith(".wav") else name)
        with atomic_file(dst, clean_stale=False) as tmp:
            sf.write(tmp, saved[0].T.cpu().numpy(), run.state["rule"].sample_rate,
                     subtype="FLOAT", format="WAV")  # fmt: skip

    def tokenizer_info(self, tokenizer: Any, name: str) -> dict[str, Any]:
        ks = list(tokenizer.supported_num_codebooks())
        return {
            **super().tokenizer_info(tokenizer, name),
            "sample_rate": int(tokenizer.sample_rate),
            "channels": int(tokenizer.channels),
            "hop_length": int(tokenizer.hop_length),
            "frame_rate": float(tokenizer.frame_rate),
            "causal": bool(getattr(tokenizer, "causal", False)),
            "supported_num_codebooks": ks,
            "bitrates_kbps": {str(k): tokenizer.bitrate(k) / 1000 for k in ks},
        }

    def data_fields(self, run: Run, log: DataLog) -> dict[str, Any]:
        return {"total_seconds": round(run.state["samples"] / run.state["rule"].sample_rate, 6)}

    def protocol(self, run: Run, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            **run.state["rule"].describe(),
            "input": "soundfile float32 -> clip rule -> (1, C, samples) float32",
            "reconstruction": "detokenize(codes, length=samples), clipped to [-1, 1], float32",
            "batch_size": 1,
            "batching": "one clip per forward pass (no padding)",
            "num_codebooks": [r["num_codebooks"] for r in results],
            "bitrates_kbps": [r["bitrate_kbps"] for r in results],
        }

    def environment(self, device: torch.device) -> dict[str, Any]:
        return {**super().environment(device), "packages": package_versions(AUDIO_PACKAGES)}

    # ------------------------------------------------------------------ reports
    def rate_columns(self) -> tuple[list[str], list[Any]]:
        return ["codebooks", "kbps", "measured kbps"], [
            lambda r: str(r["num_codebooks"]),
            lambda r: f"{r['bitrate_kbps']:.3g}",
            lambda r: f"{r['measured_bitrate_kbps']:.3f}",
        ]

    def markdown_lines(self, result: dict[str, Any]) -> list[str]:
        tok, data, proto = result["tokenizer"], result["data"], result["protocol"]
        channels = {1: "mono", 2: "stereo"}.get(proto["channels"], f"{proto['channels']} channels")
        lines = super().markdown_lines(result)
        lines[0] = lines[0].replace(" clips, ", f" clips, {data['total_seconds']:.1f} s, ", 1)
        lines[1:1] = [
            f"- {proto['sample_rate']} Hz {channels}, {proto['crop']}, resampled with "
            f"{proto['resampler']}; metrics on reconstructions clipped to [-1, 1]",
            f"- {tok['frame_rate']:g} frames/s; kbps = nominal bitrate, measured kbps = code bits "
            "of the whole set over its duration",
        ]
        if tok.get("random_init"):
            lines.append("- **random weights** (a plumbing run; these numbers mean nothing)")
        if result.get("reference_metrics"):
            lines.append("- DNSMOS needs no reference: the row `originals` scores the input clips")
        return lines

    def board_point(self, point: dict[str, Any]) -> dict[str, Any]:
        return {"num_tokens": f"{point['num_codebooks']} cb",
                "kbps": point["measured_bitrate_kbps"], "metrics": point["metrics"]}  # fmt: skip

    def board_sweep_point(self, entry: dict[str, Any]) -> dict[str, Any]:
        return {"num_tokens": f"{entry['setting_kbps']:g} kbps", "kbps": entry["payload_kbps"],
                "metrics": entry["metrics"]}  # fmt: skip

    def protocol_key(self, result: dict[str, Any]) -> dict[str, Any]:
        proto = result["protocol"]
        return {"manifest": result["data"]["manifest_sha256"],
                **{k: proto[k] for k in ("sample_rate", "channels", "max_seconds")}}  # fmt: skip

    def card_dataset(self, result: dict[str, Any]) -> str:
        data = result["data"]
        return f"({data['num_samples']} clips, {data['total_seconds']:.0f} s)"

    def card_metrics(self, result: dict[str, Any]) -> dict[str, float]:
        rate = f"{result['protocol']['sample_rate'] / 1000:g}kHz"
        out: dict[str, float] = {}
        for r in result["results"]:
            where = f"@{rate}, {r['bitrate_kbps']:.3g} kbps"
            out.update(finite_labelled(r["metrics"], where))
            out[f"codebook usage {where}"] = float(r["codebook"]["codebook_usage"])
        out.update(
            finite_labelled(result.get("reference_metrics") or {}, f"@{rate}, original audio")
        )
        return out

    # ------------------------------------------------------------------ rate-distortion
    rd_title = "Rate-distortion: audio tokenizers vs Opus"
    rd_same = (("sample rate", "sample_rate"), ("channel count", "channels"),
               ("crop (--max-seconds)", "max_seconds"))  # fmt: skip
    rd_same_hint = "sample rate and channels"
    rd_setting, rd_unit, rd_sweep_title = "codebooks / setting", "kbps", "Opus bitrate sweep"
    rd_rates = ("measured_bitrate_kbps", "payload_kbps")

    def rd_metric_names(self, proto: dict[str, Any], metrics: Sequence[str] | None) -> list[str]:
        return expand_audio_metric_names(metrics) if metrics else list(proto["metric_names"])

    def rd_points(self, result: dict[str, Any]) -> dict[str, Any]:
        keys = ("num_codebooks", "bitrate_kbps", "measured_bitrate_kbps", "metrics")
        tok = result["tokenizer"]
        return {**self.rd_identity(result), "sample_rate": tok["sample_rate"],
                "frame_rate": tok["frame_rate"],
                "points": [{k: r[k] for k in keys} for r in result["results"]]}  # fmt: skip

    def rd_target(self, point: dict[str, Any]) -> float:
        return point["measured_bitrate_kbps"]

    def run_baseline(
        self, *, results: list[dict[str, Any]], **kw: Any
    ) -> tuple[Any, DataLog, dict]:
        codecs = list(kw.pop("codecs", None) or AUDIO_CODECS)
        unknown = [c for c in codecs if c not in AUDIO_CODECS]
        if unknown:
            raise ValueError(f"unknown audio codecs {unknown}; choose from {list(AUDIO_CODECS)}")
        proto = results[0]["protocol"]
        rule = AudioRule(int(proto["sample_rate"]), int(proto["channels"]), proto["max_seconds"])
        # The same clips as the tokenizers: their shortest-clip rule (one frame) and the metrics'.
        probe = create_metrics("audio", kw["metrics"], sample_rate=rule.sample_rate)[0]
        hop = max(int(r["tokenizer"].get("hop_length", 1)) for r in results)
        sweep = kw.pop("sweep", DEFAULT_OPUS_SWEEP)
        kw.pop("device", None)
        opus, log = evaluate_opus(rule=rule, targets_kbps=kw.pop("targets"), sweep=sweep,
                                  min_samples=min_samples(hop, probe), **kw)  # fmt: skip
        drop = ("num_codebooks", "bitrates_kbps", "reconstructions_dir", "metric_names")
        protocol = {k: v for k, v in proto.items() if k not in drop}
        protocol.update(
            rate_search="per clip, the Opus --bitrate setting rescaled until the packet payload "
            "rate is closest to the tokenizer's measured kbps",
            sweep_kbps=[float(b) for b in sweep],
        )
        return {"opus": opus}, log, protocol

    def rd_matched(self, codec: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
        kbps = round(point["measured_bitrate_kbps"], 9)
        return next(e for e in codec["matched"] if abs(e["target_kbps"] - kbps) < 1e-6)

    def rd_comparison_fields(self, point: dict, matched: dict) -> tuple[dict, dict]:
        return ({"num_codebooks": point["num_codebooks"],
                 "bitrate_kbps": point["measured_bitrate_kbps"]},
                {"codec_kbps": matched["payload_kbps"]})  # fmt: skip

    def rd_intro(self, rd: dict[str, Any]) -> list[str]:
        proto, data, opus = rd["protocol"], rd["data"], rd["codecs"]["opus"]["settings"]
        return [
            f"- data: `{data['source']['spec']}` ({data['num_samples']} clips, "
            f"{data['total_seconds']:.1f} s, manifest sha256 `{data['manifest_sha256'][:16]}`), "
            f"{proto['sample_rate']} Hz, {proto['channels']} channel(s), {proto['crop']}",
            f"- Opus (`{opus['encoder']}`, {opus['tools']}): setting searched per clip to the "
            f"tokenizer's measured kbps (tolerance {proto['rate_tolerance']:.0%}); Opus kbps "
            "count the packet payload, as tokenizer kbps count the codes (whole-file rates in "
            "the JSON)",
        ]

    def rd_rate_text(self, value: float) -> str:
        return f"{value:.3f} kbps"

    def rd_point_rate(self, point: dict[str, Any]) -> float:
        return point["measured_bitrate_kbps"]

    def rd_point_setting(self, point: dict[str, Any]) -> Any:
        return point["num_codebooks"]

    def rd_matched_cells(self, m: dict[str, Any]) -> list[str]:
        return [f"{m['setting_kbps_min']:.3g}-{m['setting_kbps_max']:.3g} kbps",
                f"{m['target_kbps']:.3f}", f"{m['payload_kbps']:.3f}"]  # fmt: skip

    def rd_verdict_where(self, row: dict[str, Any]) -> str:
        return (f"`{row['tokenizer']}` at {row['num_codebooks']} codebook(s) "
                f"({row['bitrate_kbps']:.3f} kbps)")  # fmt: skip

    def rd_row_rates(self, row: dict[str, Any]) -> tuple[float, float]:
        return row["bitrate_kbps"], row["codec_kbps"]

    def rd_sweep_columns(self) -> tuple[list[str], list[Any]]:
        return ["setting kbps", "payload kbps", "file kbps"], [
            lambda e: f"{e['setting_kbps']:g}",
            lambda e: f"{e['payload_kbps']:.3f}",
            lambda e: f"{e['file_kbps']:.3f}",
        ]

    def rd_describe_data(self, rd: dict[str, Any]) -> str:
        data = rd["data"]
        return (f"{data['num_samples']} clips, {data['total_seconds']:.1f} s, "
                f"{rd['protocol']['sample_rate']} Hz")  # fmt: skip
