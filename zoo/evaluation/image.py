"""Image evaluation: the :class:`ImageEvaluator` of ``zoo.modalities.image``.

Every image goes through: decode -> RGB -> resize rule -> uint8 ``x`` -> ``x / 127.5 - 1`` ->
``tokenize`` (at each requested token count) -> ``detokenize`` -> clip and round to 8 bits (the
PNG round trip; the saved PNGs hold exactly the measured pixels) -> metrics against the uint8
original. The classical baselines are JPEG / WebP / AVIF (:mod:`.baselines.images`), matched
per image to the tokenizer's bits per image.
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

from zoo._argtypes import int_in
from zoo._io import atomic_file
from zoo.evaluation.baselines.images import CODECS, DEFAULT_SCALES, DEFAULT_SWEEP, evaluate_codecs
from zoo.evaluation.cli import MAX_BATCH, float_list, int_list, resolution
from zoo.evaluation.runner import Batch, Evaluator, RateStats, Run, finite_labelled
from zoo.evaluation.sources import (
    RESIZE_RULES,
    DataLog,
    ResizeRule,
    iter_image_batches,
    num_batches,
    open_image_source,
)
from zoo.metrics import (
    DEFAULT_METRICS,
    IMAGE_METRICS,
    MSSSIM,
    bits_per_image,
    bits_per_pixel,
    create_metrics,
)
from zoo.metrics._utils import to_uint8

#: The dotted paths an image reconstruction result holds (see :mod:`.protocol`).
REQUIRED_FIELDS = (
    "schema", "modality", "tokenizer.name", "tokenizer.architecture", "tokenizer.config",
    "tokenizer.config_sha256", "tokenizer.weights_sha256", "tokenizer.flexible_length",
    "tokenizer.codebook_size", "tokenizer.num_codebooks", "data.source", "data.num_samples",
    "data.manifest", "data.manifest_sha256", "data.skipped", "protocol.resolution",
    "protocol.resize", "protocol.value_range", "protocol.png_round_trip", "protocol.batch_size",
    "protocol.num_tokens", "metrics", "results", "environment.zoo_version",
    "environment.torch_version", "environment.device", "wall_time_s", "created", "command",
)  # fmt: skip
#: Fields of every entry of ``results``.
REQUIRED_RESULT_FIELDS = ("num_tokens", "bits_per_image", "bits_per_pixel", "metrics", "codebook")
#: Metrics a rate-distortion comparison takes from the tokenizer results by default.
RD_METRICS = ("psnr", "ssim", "lpips", "fd_efflite0", "fid")


def default_resolution(tokenizer: Any) -> tuple[int, int] | None:
    """The size a tokenizer is evaluated at unless told otherwise: its fixed input size, else
    its pretrained resolution, else its ``image_size`` attribute."""
    if tokenizer.input_size is not None:
        h, w = tokenizer.input_size[-2:]
        return int(h), int(w)
    cfg = tokenizer.pretrained_cfg
    res = getattr(cfg, "resolution", None) if cfg is not None else None
    if res is None:
        res = getattr(tokenizer, "image_size", None)
    if res is None:
        return None
    if isinstance(res, int):
        return res, res
    h, w = tuple(res)[-2:]
    return int(h), int(w)


def reconstruction_paths(names: Sequence[str]) -> dict[str, str]:
    """PNG file names (relative) for input names: ``a/b.jpg -> a/b.png``, or ``a/b.jpg.png``
    for all names when two inputs would collide."""
    stems = {n: str(Path(n).with_suffix(".png")) for n in names}
    if len(set(stems.values())) == len(stems):
        return stems
    return {n: n + ".png" for n in names}


class ImageEvaluator(Evaluator):
    """Images ``(B, 3, H, W)``; rate axis: token counts of flexible-length tokenizers."""

    name = "image"
    items, item, unit = "images", "image", "batch"
    rate_option = "num_tokens"
    rate_help = "token counts to evaluate, e.g. 8,16,32 (flexible-length tokenizers; default: all)"
    default_metrics = DEFAULT_METRICS["image"]
    metric_keys = IMAGE_METRICS
    data_help = (
        "images: a folder, webdataset .tar shard(s) (brace patterns allowed), or 'skimage' (the "
        "bundled real photos of scikit-image and matplotlib)"
    )
    save_help = "images: PNG"
    required_fields = REQUIRED_FIELDS
    required_result_fields = REQUIRED_RESULT_FIELDS
    board_rate = ("bits_per_pixel", "bpp", "{:.4f}")
    board_setting = "tokens / quality"
    protocol_parts = "resolution, resize rule or feature weights differ"

    # ------------------------------------------------------------------ CLI
    def add_arguments(self, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--resolution", type=resolution, default=None,
                           help="SIZE or HxW (default: the tokenizer's fixed or pretrained "
                           "resolution)")  # fmt: skip
        group.add_argument(
            "--resize",
            choices=RESIZE_RULES,
            default="center-crop",
            help="center-crop: resize to cover the resolution, then center crop (default); none: "
            "every image must already have the resolution",
        )
        group.add_argument(
            "--interpolation", default="bicubic", choices=("bicubic", "bilinear", "lanczos")
        )
        group.add_argument("--batch-size", type=int_in(1, MAX_BATCH), default=16,
                           help=f"images per batch, 1-{MAX_BATCH} (images only)")  # fmt: skip
        group.add_argument("--no-png-round-trip", action="store_true",
                           help="measure float reconstructions instead of 8-bit ones")  # fmt: skip
        weights = {
            "--fid-weights": "Inception-v3 FID weights (torch-fidelity's weights-inception-"
            "2015-12-05-6726825d.pth); default: the torch hub cache",
            "--lpips-weights": "VGG-16 ImageNet weights for LPIPS (vgg16-397923af.pth); "
            "default: torch hub cache",
            "--lpips-lin-weights": "LPIPS v0.1 VGG linear heads (default: the copy bundled with "
            "torchmetrics)",
            "--efflite0-weights": "EfficientNet-Lite0 weights for FD-EffLite0 (default: the "
            "pip-packaged ones)",
        }
        for flag, text in weights.items():
            group.add_argument(flag, default=None, help=text)

    def add_baseline_arguments(self, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--codec-scales", type=float_list, default=list(DEFAULT_SCALES),
                           help="resolutions the codecs code at, e.g. 1,0.5,0.25 (below 1: "
                           "downsample, code, upsample, to reach low rates)")  # fmt: skip
        group.add_argument(
            "--sweep",
            type=int_list,
            default=list(DEFAULT_SWEEP),
            help=f"image codec qualities for the curves (from {','.join(CODECS)})",
        )

    def options(self, args: argparse.Namespace) -> dict[str, Any]:
        return {
            **super().options(args),
            "resolution": args.resolution,
            "resize": args.resize,
            "interpolation": args.interpolation,
            "batch_size": args.batch_size,
            "weights": {
                "fid": args.fid_weights,
                "lpips": args.lpips_weights,
                "lpips_lin": args.lpips_lin_weights,
                "fd_efflite0": args.efflite0_weights,
            },
            "png_round_trip": not args.no_png_round_trip,
        }

    def baseline_options(self, args: argparse.Namespace) -> dict[str, Any]:
        keep = ("resolution", "resize", "interpolation", "batch_size", "weights")
        return {"sweep": args.sweep, "scales": args.codec_scales,
                **{k: v for k, v in self.options(args).items() if k in keep}}  # fmt: skip

    def rd_default_metrics(self, options: dict[str, Any]) -> list[str]:
        return ["psnr", "ssim", "fd_efflite0"] + (["lpips"] if options["weights"]["lpips"] else [])

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
                f"--num-tokens {ks}: {tok._label} is not flexible-length; it always uses "
                f"{tok.num_tokens} tokens (leave --num-tokens out)"
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
        size = o.get("resolution") or default_resolution(tok)
        if size is None:
            raise ValueError(
                f"{tok._label}: has no fixed or pretrained resolution; pass --resolution"
            )
        rule = ResizeRule(tuple(int(r) for r in size), o.get("resize", "center-crop"),
                          o.get("interpolation", "bicubic"))  # fmt: skip
        # Fail on an unusable size before reading any data.
        tok.validate_input(torch.zeros(1, tok.in_channels, *rule.resolution))
        run.state.update(rule=rule, batch_size=o.get("batch_size", 16),
                         png=o.get("png_round_trip", True), bits={})  # fmt: skip

    def open_data(self, spec: str, run: Run) -> Any:
        return open_image_source(spec)

    def batches(self, run: Run, source: Any, *, log: DataLog, skip_bad: bool,
                limit: int | None) -> Iterator[Batch]:  # fmt: skip
        for b in iter_image_batches(source, run.state["rule"], batch_size=run.state["batch_size"],
                                    skip_bad=skip_bad, log=log, limit=limit):  # fmt: skip
            yield Batch(b.names, b.images.float() / 127.5 - 1.0, b.images)

    def num_batches(self, run: Run, source: Any, limit: int | None) -> int | None:
        return num_batches(source, run.state["batch_size"], limit)

    def metric_names(self, run: Run, requested: Sequence[str] | None) -> list[str]:
        names = super().metric_names(run, requested)
        if not requested and min(run.state["rule"].resolution) >= MSSSIM.min_size:
            names.insert(2, "ms_ssim")
        return names

    def create_metrics(self, run: Run, names: Sequence[str], copies: int) -> list[dict[str, Any]]:
        return create_metrics("image", names, copies=copies, weights=run.options.get("weights"),
                              quantize=run.state["png"])  # fmt: skip

    def reconstruct(self, run: Run, x: Tensor, rate: Any) -> tuple[Tensor, Tensor, Tensor]:
        codes = run.tokenizer.tokenize(x, num_tokens=rate)
        x_hat = run.tokenizer.detokenize(codes)
        rec_u8 = to_uint8(x_hat)
        return codes, rec_u8 if run.state["png"] else x_hat.float().clamp(-1.0, 1.0), rec_u8

    def code_bits(self, run: Run, codes: Tensor) -> float:
        b = bits_per_image(run.tokenizer, codes)
        seen = run.state["bits"].setdefault(tuple(codes.shape[1:]), b)
        if seen != b:  # pragma: no cover - the tokenizer's accounting is deterministic
            raise RuntimeError(f"bits per image changed between batches: {seen} -> {b}")
        return b * codes.shape[0]

    def rate_fields(self, run: Run, rate: Any, stats: RateStats) -> dict[str, Any]:
        b = run.state["bits"][stats.codes_shape[1:]]
        h, w = run.state["rule"].resolution
        tokens = rate if rate is not None else int(math.prod(stats.codes_shape[1:-1]))
        return {
            "num_tokens": tokens,
            "bits_per_image": b,
            "bits_per_pixel": bits_per_pixel(b, h, w),
        }

    def rate_dir(self, rate: Any) -> str:
        return f"tokens_{rate}"

    def write_reconstructions(
        self, run: Run, saved: Tensor, names: Sequence[str], folder: Path
    ) -> None:
        paths = reconstruction_paths(names)
        for a, name in zip(saved.permute(0, 2, 3, 1).cpu().numpy(), names, strict=True):
            with atomic_file(folder / paths[name], clean_stale=False) as tmp:
                Image.fromarray(a).save(tmp, format="PNG")

    def data_fields(self, run: Run, log: DataLog) -> dict[str, Any]:
        return {"num_enlarged": log.enlarged}

    def protocol(self, run: Run, results: list[dict[str, Any]]) -> dict[str, Any]:
        rule = run.state["rule"]
        return {
            "resolution": list(rule.resolution),
            "resize": rule.describe(),
            "value_range": [-1.0, 1.0],
            "input_pixels": "uint8 p -> p / 127.5 - 1",
            "png_round_trip": bool(run.state["png"]),
            "reconstruction_pixels": "clip to [-1, 1], (x + 1) * 127.5, round to uint8",
            "batch_size": run.state["batch_size"],
            "num_tokens": [r["num_tokens"] for r in results],
        }

    # ------------------------------------------------------------------ reports
    def rate_columns(self) -> tuple[list[str], list[Any]]:
        return ["tokens", "bits/image", "bpp"], [
            lambda r: str(r["num_tokens"]),
            lambda r: f"{r['bits_per_image']:.1f}",
            lambda r: f"{r['bits_per_pixel']:.4f}",
        ]

    def markdown_lines(self, result: dict[str, Any]) -> list[str]:
        proto = result["protocol"]
        h, w = proto["resolution"]
        lines = super().markdown_lines(result)
        lines[1:1] = [
            f"- resolution {h}x{w}: {proto['resize']['rule']}",
            f"- metrics on {'8-bit (PNG round trip)' if proto['png_round_trip'] else 'float'} "
            "reconstructions; FD-EffLite0 is a Fréchet distance on EfficientNet-Lite0 features, "
            "not FID",
        ]
        return lines

    def markdown_notes(self, result: dict[str, Any]) -> list[str]:
        fd = [m for m in result["metrics"].values() if "num_real" in m]
        n = result["data"]["num_samples"]
        if fd and n < max(m["feature_dim"] for m in fd):
            return [
                f"Fréchet distances from {n} images (fewer than the feature dimension): biased "
                "upwards; compare only at equal sample counts.\n"
            ]
        return []

    def protocol_key(self, result: dict[str, Any]) -> dict[str, Any]:
        proto = result["protocol"]
        return {
            "manifest": result["data"]["manifest_sha256"],
            "resolution": proto["resolution"],
            "resize": proto["resize"].get("mode"),
            "interpolation": proto["resize"].get("interpolation"),
            "png_round_trip": proto["png_round_trip"],
        }

    def board_notes(self) -> list[str]:
        return ["FD-EffLite0 is a Fréchet distance on EfficientNet-Lite0 features, not FID."]

    def board_sweep_point(self, entry: dict[str, Any]) -> dict[str, Any]:
        return {"num_tokens": f"q {entry['quality']:g}", "bits_per_pixel": entry["bits_per_pixel"],
                "metrics": entry["metrics"]}  # fmt: skip

    def card_metrics(self, result: dict[str, Any]) -> dict[str, float]:
        h, w = result["protocol"]["resolution"]
        res = f"{h}px" if h == w else f"{h}x{w}"
        flexible = result["tokenizer"]["flexible_length"]
        out: dict[str, float] = {}
        for r in result["results"]:
            where = f"@{res}, {r['num_tokens']} tokens" if flexible else f"@{res}"
            out.update(finite_labelled(r["metrics"], where))
            out[f"bits per pixel {where}"] = float(r["bits_per_pixel"])
            out[f"codebook usage {where}"] = float(r["codebook"]["codebook_usage"])
        return out

    # ------------------------------------------------------------------ rate-distortion
    rd_title = "Rate-distortion: tokenizers vs classical codecs"
    rd_same = (("resolution", "resolution"), ("resize rule", "resize"))
    rd_same_hint = "resolution"
    rd_setting, rd_unit, rd_sweep_title = "tokens / quality", "bpp", "Codec quality sweep"
    rd_rates = ("bits_per_pixel", "bits_per_pixel")  # tokenizer point, baseline entry

    def rd_metric_names(self, proto: dict[str, Any], metrics: Sequence[str] | None) -> list[str]:
        return list(metrics) if metrics else [k for k in proto["metric_names"] if k in RD_METRICS]

    def rd_points(self, result: dict[str, Any]) -> dict[str, Any]:
        keys = ("num_tokens", "bits_per_image", "bits_per_pixel", "metrics")
        return {
            **self.rd_identity(result),
            "bits_per_token": result["tokenizer"].get("bits_per_token"),
            "points": [{k: r[k] for k in keys} for r in result["results"]],
        }

    def rd_target(self, point: dict[str, Any]) -> float:
        return point["bits_per_image"]

    def run_baseline(
        self, *, results: list[dict[str, Any]], **kw: Any
    ) -> tuple[Any, DataLog, dict]:
        proto = results[0]["protocol"]
        rule = ResizeRule(tuple(proto["resolution"]), proto["resize"]["mode"],
                          proto["resize"]["interpolation"] or "bicubic")  # fmt: skip
        for unused in ("resolution", "resize", "interpolation"):
            kw.pop(unused, None)
        out, log = evaluate_codecs(rule=rule, targets_bits=kw.pop("targets"), **kw)
        protocol = {k: proto[k] for k in ("resolution", "resize", "value_range", "png_round_trip")}
        protocol.update(
            rate_search="per image, bisection over the codec's quality setting to the file size "
            "closest to the tokenizer's bits per image",
            sweep_qualities=list(kw.get("sweep", DEFAULT_SWEEP)),
            codec_scales=list(kw.get("scales", DEFAULT_SCALES)),
        )
        return out, log, protocol

    def rd_matched(self, codec: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
        bits = point["bits_per_image"]
        return next(e for e in codec["matched"] if abs(e["target_bits_per_image"] - bits) < 1e-9)

    def rd_comparison_fields(self, point: dict, matched: dict) -> tuple[dict, dict]:
        return ({"num_tokens": point["num_tokens"], "bits_per_pixel": point["bits_per_pixel"]},
                {"codec_bits_per_pixel": matched["bits_per_pixel"]})  # fmt: skip

    def rd_intro(self, rd: dict[str, Any]) -> list[str]:
        h, w = rd["protocol"]["resolution"]
        tol = rd["protocol"]["rate_tolerance"]
        return [
            f"- data: `{rd['data']['source']['spec']}` ({rd['data']['num_samples']} images, "
            f"manifest sha256 `{rd['data']['manifest_sha256'][:16]}`), {h}x{w}, "
            f"{rd['protocol']['resize']['rule']}",
            f"- codec quality searched per image to the tokenizer's bits per image (tolerance "
            f"{tol:.0%}); rates are whole files, headers included",
            "- FD-EffLite0 is a Fréchet distance on EfficientNet-Lite0 features, not FID",
        ]

    def rd_rate_text(self, value: float) -> str:
        return f"{value:.4f} bpp"

    def rd_point_rate(self, point: dict[str, Any]) -> float:
        return point["bits_per_pixel"]

    def rd_point_setting(self, point: dict[str, Any]) -> Any:
        return point["num_tokens"]

    def rd_matched_cells(self, m: dict[str, Any]) -> list[str]:
        return [f"q {m['quality_min']:.3g}-{m['quality_max']:.3g}",
                f"{m['target_bits_per_pixel']:.4f}", f"{m['bits_per_pixel']:.4f}"]  # fmt: skip

    def rd_verdict_where(self, row: dict[str, Any]) -> str:
        return (
            f"`{row['tokenizer']}` at {row['num_tokens']} tokens ({row['bits_per_pixel']:.4f} bpp)"
        )

    def rd_row_rates(self, row: dict[str, Any]) -> tuple[float, float]:
        return row["bits_per_pixel"], row["codec_bits_per_pixel"]

    def rd_sweep_columns(self) -> tuple[list[str], list[Any]]:
        return ["quality", "bpp"], [lambda e: f"{e['quality']:g}",
                                    lambda e: f"{e['bits_per_pixel']:.4f}"]  # fmt: skip

    def rd_describe_data(self, rd: dict[str, Any]) -> str:
        h, w = rd["protocol"]["resolution"]
        return f"{rd['data']['num_samples']} images, {h}x{w}"
