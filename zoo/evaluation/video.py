"""Video evaluation: the :class:`VideoEvaluator` of ``zoo.modalities.video``.

Every clip goes through: decode (PyAV) -> the first ``--num-frames`` frames -> central square
resized to ``--frame-size`` -> uint8 ``x`` (:class:`.video_sources.ClipRule`) -> ``x / 127.5 - 1``
``(1, 3, T, S, S)`` -> ``tokenize`` (at each requested token count of a flexible-length
tokenizer) -> ``detokenize`` -> clip and round to 8 bits (the lossless frame round trip; saved
reconstructions are PNG frames holding exactly the measured pixels) -> metrics against the uint8
original (:mod:`zoo.metrics.video`: per-frame PSNR / SSIM, temporal flicker, a per-frame Fréchet
distance on EfficientNet-Lite0 features, FVD with user-supplied I3D weights).

The frame count must be one the tokenizer takes (``valid_num_frames``: ``1 + 4k`` for the causal
families, exactly ``num_frames`` for LARP); another is refused before any data is read, with the
counts that work. Clips are processed one at a time.

Rates: bits per clip from the codes (the quantizer's bits per token times the tokens, as
``bits_per_image`` counts them for images), bits per pixel ``bits / (T * H * W)`` and kbps at a
nominal 25 frames per second (recorded in the protocol; the classical codecs code at the same
rate). The classical baselines are H.264 (libx264) and AV1 (SVT-AV1) through PyAV
(:mod:`.baselines.video`), their CRF matched per clip to the tokenizer's bits per clip.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

import zoo.metrics.video  # noqa: F401  (registers the video metrics)
from zoo._argtypes import int_in
from zoo._io import atomic_file
from zoo.evaluation.baselines.video import (
    DEFAULT_CRF_SWEEP,
    DEFAULT_VIDEO_SCALES,
    available_video_codecs,
    evaluate_video_codecs,
    sweep_crfs,
)
from zoo.evaluation.cli import MAX_RESOLUTION, float_list, int_list
from zoo.evaluation.protocol import COMMON_REQUIRED_FIELDS, package_versions
from zoo.evaluation.runner import Batch, Evaluator, RateStats, Run, finite_labelled
from zoo.evaluation.sources import DataLog
from zoo.evaluation.video_sources import ClipRule, iter_video_clips, open_video_source
from zoo.metrics import DEFAULT_METRICS, MetricKeys, bits_per_image, create_metrics
from zoo.metrics._utils import to_uint8
from zoo.metrics.video import I3D_MIN_FRAMES

#: Frame count when the tokenizer has no ``num_frames`` attribute.
DEFAULT_NUM_FRAMES = 17
#: Nominal frame rate of every clip for kbps (and the rate the classical codecs code at).
NOMINAL_FPS = 25.0
#: Python packages whose versions a video result records.
VIDEO_PACKAGES = ("av", "pillow")
#: The dotted paths a video reconstruction result holds.
VIDEO_REQUIRED_FIELDS = COMMON_REQUIRED_FIELDS[:9] + (
    "tokenizer.flexible_length", "tokenizer.num_frames", "tokenizer.frame_size",
    "data.source", "data.num_samples", "data.manifest", "data.manifest_sha256", "data.skipped",
    "protocol.num_frames", "protocol.frame_size", "protocol.crop", "protocol.fps",
    "protocol.value_range", "protocol.png_round_trip", "protocol.batch_size",
    "protocol.num_tokens", "protocol.metric_names",
) + COMMON_REQUIRED_FIELDS[14:]  # fmt: skip
#: Fields of every entry of a video result's ``results``.
VIDEO_REQUIRED_RESULT_FIELDS = (
    "num_tokens", "bits_per_clip", "bits_per_pixel", "kbps", "metrics", "codebook",
)  # fmt: skip


def valid_frame_counts(tokenizer: Any, upto: int = 33) -> list[int]:
    """The clip lengths ``tokenizer`` takes, up to ``upto`` (at least the first one)."""
    counts = [t for t in range(1, upto + 1) if tokenizer.valid_num_frames(t)]
    t = upto
    while not counts and t < 4096:
        t += 1
        counts += [t] if tokenizer.valid_num_frames(t) else []
    return counts


def reconstruction_folders(names: Sequence[str]) -> dict[str, str]:
    """Folder names (relative) of the PNG frames of each clip: ``a/b.mp4 -> a/b``, or
    ``a/b.mp4`` for all clips when two would collide."""
    stems = {n: str(Path(n).with_suffix("")) for n in names}
    if len(set(stems.values())) == len(stems):
        return stems
    return {n: n for n in names}


class VideoEvaluator(Evaluator):
    """Video clips ``(1, 3, T, S, S)``; rate axis: token counts of flexible-length tokenizers."""

    name = "video"
    items, item, unit = "clips", "clip", "clip"
    rate_option = "num_tokens"
    rate_help = "token counts to evaluate (flexible-length tokenizers; default: all)"
    default_metrics = DEFAULT_METRICS["video"]
    metric_keys = MetricKeys("video")
    data_help = (
        "video: a folder of video files (.mp4 .mkv .webm ...; each clip is a file's first "
        "--num-frames frames)"
    )
    save_help = "video: lossless PNG frames, one folder per clip"
    required_fields = VIDEO_REQUIRED_FIELDS
    required_result_fields = VIDEO_REQUIRED_RESULT_FIELDS
    board_rate = ("bits_per_pixel", "bpp", "{:.4f}")
    board_setting = "tokens / CRF"
    protocol_parts = "frame count, frame size or feature weights differ"

    # ------------------------------------------------------------------ CLI
    def add_arguments(self, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--num-frames", type=int_in(1, 4096), default=None,
                           help="video: frames per clip, the first of each file (default: the "
                           f"tokenizer's num_frames, else {DEFAULT_NUM_FRAMES}); must be a count "
                           "the tokenizer takes")  # fmt: skip
        group.add_argument("--frame-size", type=int_in(1, MAX_RESOLUTION), default=None,
                           help="video: side of the square frames (default: the tokenizer's "
                           "frame_size); each frame's central square is resized to it")  # fmt: skip
        group.add_argument("--fvd-weights", default=None,
                           help="video: Kinetics-400 RGB I3D state dict for FVD (adds fvd to the "
                           "default metrics; needs --num-frames >= 9)")  # fmt: skip
        group.add_argument("--efflite0-frames-weights", default=None,
                           help="video: EfficientNet-Lite0 weights for FD-EffLite0 (frames) "
                           "(default: the pip-packaged ones)")  # fmt: skip

    def add_baseline_arguments(self, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--crf-sweep", type=int_list, default=None,
                           help="video: CRFs of each codec's curve (default: h264 "
                           f"{','.join(map(str, DEFAULT_CRF_SWEEP['h264']))}; av1 "
                           f"{','.join(map(str, DEFAULT_CRF_SWEEP['av1']))}); values outside a "
                           "codec's range are dropped for it")  # fmt: skip
        group.add_argument("--video-scales", type=float_list, default=list(DEFAULT_VIDEO_SCALES),
                           help="video: resolutions the codecs code at, e.g. 1,0.5 (below 1: "
                           "downsample, code, upsample, to reach low rates)")  # fmt: skip

    def options(self, args: argparse.Namespace) -> dict[str, Any]:
        return {
            **super().options(args),
            "num_frames": args.num_frames,
            "frame_size": args.frame_size,
            "weights": {"fvd": args.fvd_weights, "fd_efflite0": args.efflite0_frames_weights},
        }

    def baseline_options(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"sweep": args.crf_sweep, "scales": args.video_scales,
                "weights": self.options(args)["weights"]}  # fmt: skip

    def accepts_rates(self, tokenizer: Any) -> bool:
        return bool(tokenizer.flexible_length)

    # ------------------------------------------------------------------ the run
    def rates(self, run: Run, requested: Sequence[int] | None) -> list[int | None]:
        """Token counts to evaluate: ``[None]`` (all tokens) for fixed-length tokenizers."""
        tok = run.tokenizer
        if not requested:
            return [None]
        ks = [int(k) for k in requested]
        if not tok.flexible_length:
            if ks == [tok.num_tokens]:
                return [None]
            raise ValueError(
                f"--num-tokens {ks}: {tok._label} is not flexible-length; its token count is "
                "set by the clip size (leave --num-tokens out)"
            )
        bad = [k for k in ks if not 1 <= k <= tok.num_tokens]
        if bad:
            raise ValueError(
                f"--num-tokens {bad}: {tok._label} accepts 1 to {tok.num_tokens} tokens"
            )
        if len(set(ks)) != len(ks):
            raise ValueError(f"--num-tokens {ks}: duplicate token counts")
        return ks

    def setup(self, run: Run) -> None:
        o, tok = run.options, run.tokenizer
        t = o.get("num_frames") or getattr(tok, "num_frames", None) or DEFAULT_NUM_FRAMES
        size = o.get("frame_size") or getattr(tok, "frame_size", None)
        if size is None:
            raise ValueError(f"{tok._label}: has no frame_size; pass --frame-size")
        check = getattr(tok, "valid_num_frames", None)
        if check is not None and not check(int(t)):
            counts = valid_frame_counts(tok)
            hint = tok.frame_count_hint(int(t)) if hasattr(tok, "frame_count_hint") else ""
            raise ValueError(
                f"--num-frames {t}: {tok._label} takes clips of "
                f"{', '.join(map(str, counts))}{', ...' if len(counts) > 1 else ''} frames "
                f"({hint})"
            )
        rule = ClipRule(int(t), int(size))
        # Fail on an unusable clip size before reading any data.
        s = rule.frame_size
        tok.validate_input(torch.zeros(1, tok.in_channels, rule.num_frames, s, s))
        run.state.update(rule=rule, bits={})

    def open_data(self, spec: str, run: Run) -> Any:
        return open_video_source(spec)

    def batches(self, run: Run, source: Any, *, log: DataLog, skip_bad: bool,
                limit: int | None) -> Iterator[Batch]:  # fmt: skip
        for clip in iter_video_clips(source, run.state["rule"], skip_bad=skip_bad, log=log,
                                     limit=limit):  # fmt: skip
            x = clip.frames.unsqueeze(0)
            yield Batch([clip.name], x.float() / 127.5 - 1.0, x)

    def metric_names(self, run: Run, requested: Sequence[str] | None) -> list[str]:
        names = super().metric_names(run, requested)
        if not requested and (run.options.get("weights") or {}).get("fvd"):
            names.append("fvd")
        t = run.state["rule"].num_frames
        if "fvd" in names and t < I3D_MIN_FRAMES:
            raise ValueError(
                f"fvd: the I3D network needs clips of at least {I3D_MIN_FRAMES} frames, and "
                f"--num-frames is {t}; evaluate longer clips or leave fvd out"
            )
        if "flicker" in names and t < 2:
            raise ValueError("flicker: needs clips of at least 2 frames; leave it out")
        return names

    def create_metrics(self, run: Run, names: Sequence[str], copies: int) -> list[dict[str, Any]]:
        return create_metrics("video", names, copies=copies, weights=run.options.get("weights"))

    def reconstruct(self, run: Run, x: Tensor, rate: Any) -> tuple[Tensor, Tensor, Tensor]:
        tok = run.tokenizer
        codes = tok.tokenize(x) if rate is None else tok.tokenize(x, num_tokens=rate)
        rec_u8 = to_uint8(tok.detokenize(codes))
        return codes, rec_u8, rec_u8

    def code_bits(self, run: Run, codes: Tensor) -> float:
        b = bits_per_image(run.tokenizer, codes)
        seen = run.state["bits"].setdefault(tuple(codes.shape[1:]), b)
        if seen != b:  # pragma: no cover - the tokenizer's accounting is deterministic
            raise RuntimeError(f"bits per clip changed between clips: {seen} -> {b}")
        return b * codes.shape[0]

    def rate_fields(self, run: Run, rate: Any, stats: RateStats) -> dict[str, Any]:
        b = run.state["bits"][stats.codes_shape[1:]]
        rule = run.state["rule"]
        t, s = rule.num_frames, rule.frame_size
        tokens = rate if rate is not None else int(math.prod(stats.codes_shape[1:-1]))
        return {
            "num_tokens": tokens,
            "bits_per_clip": b,
            "bits_per_pixel": b / (t * s * s),
            "kbps": b / (t / NOMINAL_FPS) / 1000,
        }

    def rate_dir(self, rate: Any) -> str:
        return f"tokens_{rate}"

    def write_reconstructions(
        self, run: Run, saved: Tensor, names: Sequence[str], folder: Path
    ) -> None:
        folders = reconstruction_folders(names)
        for clip, name in zip(saved.permute(0, 2, 3, 4, 1).cpu().numpy(), names, strict=True):
            for i, frame in enumerate(clip):
                with atomic_file(folder / folders[name] / f"{i:05d}.png", clean_stale=False) as tmp:
                    Image.fromarray(frame).save(tmp, format="PNG")

    def tokenizer_info(self, tokenizer: Any, name: str) -> dict[str, Any]:
        return {
            **super().tokenizer_info(tokenizer, name),
            "num_frames": int(tokenizer.num_frames),
            "frame_size": int(tokenizer.frame_size),
            "temporal_factor": int(tokenizer.temporal_factor),
            "spatial_factor": int(tokenizer.spatial_factor),
            "first_frame_separate": bool(tokenizer.first_frame_separate),
            "causal": bool(getattr(tokenizer, "causal", False)),
            "valid_num_frames": valid_frame_counts(tokenizer),
        }

    def protocol(self, run: Run, results: list[dict[str, Any]]) -> dict[str, Any]:
        rule = run.state["rule"]
        return {
            "num_frames": rule.num_frames,
            "frame_size": rule.frame_size,
            "crop": rule.describe(),
            "fps": NOMINAL_FPS,
            "fps_note": "nominal: kbps = bits per clip / (num_frames / fps) / 1000, whatever the "
            "files' own frame rates (in the manifest); the classical codecs code at this rate",
            "value_range": [-1.0, 1.0],
            "input_pixels": "uint8 p -> p / 127.5 - 1, (1, 3, T, S, S)",
            "png_round_trip": True,
            "reconstruction_pixels": "clip to [-1, 1], (x + 1) * 127.5, round to uint8",
            "batch_size": 1,
            "batching": "one clip per forward pass",
            "num_tokens": [r["num_tokens"] for r in results],
        }

    def environment(self, device: torch.device) -> dict[str, Any]:
        return {**super().environment(device), "packages": package_versions(VIDEO_PACKAGES)}

    # ------------------------------------------------------------------ reports
    def rate_columns(self) -> tuple[list[str], list[Any]]:
        return ["tokens", "bits/clip", "bpp", "kbps"], [
            lambda r: str(r["num_tokens"]),
            lambda r: f"{r['bits_per_clip']:.1f}",
            lambda r: f"{r['bits_per_pixel']:.4f}",
            lambda r: f"{r['kbps']:.2f}",
        ]

    def markdown_lines(self, result: dict[str, Any]) -> list[str]:
        proto, tok = result["protocol"], result["tokenizer"]
        lines = super().markdown_lines(result)
        lines[1:1] = [
            f"- {proto['num_frames']} frames x {proto['frame_size']}x{proto['frame_size']}: "
            f"{proto['crop']['rule']}; kbps at a nominal {proto['fps']:g} fps",
            "- metrics on 8-bit reconstructions (the PNG frames' pixels); FD-EffLite0 (frames) is "
            "a Fréchet distance on EfficientNet-Lite0 features of single frames, not FVD",
        ]
        if tok.get("random_init"):
            lines.append("- **random weights** (a plumbing run; these numbers mean nothing)")
        return lines

    def markdown_notes(self, result: dict[str, Any]) -> list[str]:
        fd = [m for m in result["metrics"].values() if "num_real" in m]
        small = [m for m in fd if m["num_real"] < m.get("feature_dim", 0)]
        if small:
            return [
                "\nFréchet distances from fewer samples than the feature dimension: biased "
                "upwards; compare only at equal sample counts.\n"
            ]
        return []

    def protocol_key(self, result: dict[str, Any]) -> dict[str, Any]:
        proto = result["protocol"]
        return {"manifest": result["data"]["manifest_sha256"],
                **{k: proto[k] for k in ("num_frames", "frame_size", "fps")}}  # fmt: skip

    def board_notes(self) -> list[str]:
        return ["FD-EffLite0 (frames) is a per-frame Fréchet distance, not FVD."]

    def board_sweep_point(self, entry: dict[str, Any]) -> dict[str, Any]:
        return {"num_tokens": f"CRF {entry['crf']}", "bits_per_pixel": entry["bits_per_pixel"],
                "metrics": entry["metrics"]}  # fmt: skip

    def card_metrics(self, result: dict[str, Any]) -> dict[str, float]:
        proto = result["protocol"]
        size = f"{proto['num_frames']}x{proto['frame_size']}px"
        flexible = result["tokenizer"]["flexible_length"]
        out: dict[str, float] = {}
        for r in result["results"]:
            where = f"@{size}, {r['num_tokens']} tokens" if flexible else f"@{size}"
            out.update(finite_labelled(r["metrics"], where))
            out[f"bits per pixel {where}"] = float(r["bits_per_pixel"])
            out[f"codebook usage {where}"] = float(r["codebook"]["codebook_usage"])
        return out

    # ------------------------------------------------------------------ rate-distortion
    rd_title = "Rate-distortion: video tokenizers vs H.264 / AV1"
    rd_same = (("frame count", "num_frames"), ("frame size", "frame_size"), ("fps", "fps"))
    rd_same_hint = "--num-frames and --frame-size"
    rd_setting, rd_unit, rd_sweep_title = "tokens / CRF", "bpp", "Codec CRF sweep"
    rd_rates = ("bits_per_pixel", "bits_per_pixel")  # tokenizer point, baseline entry

    def rd_points(self, result: dict[str, Any]) -> dict[str, Any]:
        keys = ("num_tokens", "bits_per_clip", "bits_per_pixel", "kbps", "metrics")
        return {
            **self.rd_identity(result),
            "bits_per_token": result["tokenizer"].get("bits_per_token"),
            "points": [{k: r[k] for k in keys} for r in result["results"]],
        }

    def rd_target(self, point: dict[str, Any]) -> float:
        return point["bits_per_clip"]

    def run_baseline(
        self, *, results: list[dict[str, Any]], **kw: Any
    ) -> tuple[Any, DataLog, dict]:
        proto = results[0]["protocol"]
        rule = ClipRule(int(proto["num_frames"]), int(proto["frame_size"]))
        sweep = kw.pop("sweep", None)
        scales = list(kw.pop("scales", None) or DEFAULT_VIDEO_SCALES)
        codecs = list(kw.pop("codecs", None) or available_video_codecs())
        out, log = evaluate_video_codecs(
            rule=rule, targets_bits=kw.pop("targets"), codecs=codecs, sweep=sweep, scales=scales,
            fps=float(proto["fps"]), **kw,
        )  # fmt: skip
        protocol = {k: proto[k] for k in ("num_frames", "frame_size", "crop", "fps", "value_range",
                                          "png_round_trip")}  # fmt: skip
        protocol.update(
            rate_search="per clip, bisection over the integer CRF to the bits per clip nearest "
            "the tokenizer's (coded packets + extradata, no container)",
            sweep_crfs={c: sweep_crfs(c, sweep) for c in codecs},
            codec_scales=[float(s) for s in scales],
        )
        return out, log, protocol

    def rd_matched(self, codec: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
        bits = point["bits_per_clip"]
        return next(e for e in codec["matched"] if abs(e["target_bits_per_clip"] - bits) < 1e-9)

    def rd_comparison_fields(self, point: dict, matched: dict) -> tuple[dict, dict]:
        return (
            {"num_tokens": point["num_tokens"], "bits_per_clip": point["bits_per_clip"],
             "bits_per_pixel": point["bits_per_pixel"], "kbps": point["kbps"]},
            {"codec_bits_per_clip": matched["bits_per_clip"],
             "codec_bits_per_pixel": matched["bits_per_pixel"], "codec_kbps": matched["kbps"],
             "fraction_within_tolerance": matched["fraction_within_tolerance"],
             "num_unreachable": matched["num_unreachable"]},
        )  # fmt: skip

    def rd_intro(self, rd: dict[str, Any]) -> list[str]:
        proto, data = rd["protocol"], rd["data"]
        s = proto["frame_size"]
        return [
            f"- data: `{data['source']['spec']}` ({data['num_samples']} clips, manifest sha256 "
            f"`{data['manifest_sha256'][:16]}`), {proto['num_frames']} frames x {s}x{s}, "
            f"{proto['crop']['rule']}",
            f"- codec CRF searched per clip to the tokenizer's bits per clip (tolerance "
            f"{proto['rate_tolerance']:.0%}); codec rates are the coded packets plus extradata "
            f"(no container), kbps at a nominal {proto['fps']:g} fps; libx264's sizes vary by up "
            "to ~1% between runs",
            "- `rate hit`: the fraction of clips within tolerance; unreachable: clips whose "
            "target no CRF reaches (every H.264 stream carries x264's ~650-byte settings SEI)",
            "- FD-EffLite0 (frames) is a per-frame Fréchet distance on EfficientNet-Lite0 "
            "features, not FVD",
        ]

    def rd_rate_text(self, value: float) -> str:
        return f"{value:.4f} bpp"

    def rd_point_rate(self, point: dict[str, Any]) -> float:
        return point["bits_per_pixel"]

    def rd_point_setting(self, point: dict[str, Any]) -> Any:
        return point["num_tokens"]

    def rd_matched_cells(self, m: dict[str, Any]) -> list[str]:
        return [f"CRF {m['crf_min']}-{m['crf_max']}", f"{m['target_bits_per_pixel']:.4f}",
                f"{m['bits_per_pixel']:.4f}"]  # fmt: skip

    def rd_verdict_where(self, row: dict[str, Any]) -> str:
        return (
            f"`{row['tokenizer']}` at {row['num_tokens']} tokens ({row['bits_per_clip']:.0f} "
            f"bits per clip, {row['bits_per_pixel']:.4f} bpp)"
        )

    def rd_row_rates(self, row: dict[str, Any]) -> tuple[float, float]:
        return row["bits_per_pixel"], row["codec_bits_per_pixel"]

    def rd_sweep_columns(self) -> tuple[list[str], list[Any]]:
        return ["CRF", "bpp", "kbps"], [
            lambda e: str(e["crf"]),
            lambda e: f"{e['bits_per_pixel']:.4f}",
            lambda e: f"{e['kbps']:.2f}",
        ]

    def rd_describe_data(self, rd: dict[str, Any]) -> str:
        proto = rd["protocol"]
        s = proto["frame_size"]
        return f"{rd['data']['num_samples']} clips, {proto['num_frames']} frames x {s}x{s}"
