"""Reconstruction evaluation of one tokenizer under the pinned protocol (see :mod:`.protocol`).

:func:`evaluate_reconstruction` dispatches on ``tokenizer.modality`` through :data:`EVALUATORS`;
images are implemented here, audio in :mod:`.reconstruct_audio` (which registers itself; the
package ``zoo.evaluation`` imports it), video evaluators register their own function.

For images, every sample goes through: decode -> RGB -> resize rule -> uint8 ``x`` -> ``x / 127.5
- 1`` -> ``tokenize`` (at each requested token count) -> ``detokenize`` -> clip and round to 8
bits (the PNG round trip; the saved PNGs hold exactly the measured pixels) -> metrics against the
uint8 original.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from zoo._io import atomic_file
from zoo.evaluation.protocol import (
    RECONSTRUCTION_SCHEMA,
    environment_info,
    format_value,
    markdown_table,
    sha256_json,
    state_dict_sha256,
    utc_now,
)
from zoo.evaluation.sources import (
    DataLog,
    ResizeRule,
    iter_image_batches,
    num_batches,
    open_image_source,
)
from zoo.metrics import (
    DEFAULT_METRICS,
    METRIC_LABELS,
    MSSSIM,
    CodebookUsage,
    FrechetDistance,
    bits_per_image,
    bits_per_pixel,
    create_metrics,
)
from zoo.metrics._utils import sha256_file, to_uint8


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; anything else as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


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


def resolve_num_tokens(tokenizer: Any, num_tokens: Sequence[int] | None) -> list[int | None]:
    """Token counts to evaluate: ``[None]`` (all tokens) for fixed-length tokenizers."""
    if not num_tokens:
        return [None]
    ks = [int(k) for k in num_tokens]
    if not tokenizer.flexible_length:
        if ks == [tokenizer.num_tokens]:
            return [None]
        raise ValueError(
            f"--num-tokens {ks}: {tokenizer._label} is not flexible-length; it always uses "
            f"{tokenizer.num_tokens} tokens (leave --num-tokens out)"
        )
    bad = [k for k in ks if not 1 <= k <= tokenizer.num_tokens]
    if bad:
        raise ValueError(
            f"--num-tokens {bad}: {tokenizer._label} accepts 1 to {tokenizer.num_tokens} tokens"
        )
    if len(set(ks)) != len(ks):
        raise ValueError(f"--num-tokens {ks}: duplicate token counts")
    return ks


def tokenizer_info(tokenizer: Any, name: str) -> dict[str, Any]:
    """Identity of the evaluated tokenizer: name, config and weights hashes, bit accounting."""
    config = tokenizer.get_config()
    info: dict[str, Any] = {
        "name": name,
        "architecture": config["architecture"],
        "config": config,
        "config_sha256": sha256_json(config),
        "weights_sha256": state_dict_sha256(tokenizer),
        "modality": tokenizer.modality,
        "flexible_length": bool(tokenizer.flexible_length),
        "num_tokens": int(tokenizer.num_tokens),
        "token_shape": list(tokenizer.token_shape()),
        "codebook_size": int(tokenizer.codebook_size),
        "num_codebooks": int(tokenizer.num_codebooks),
        "bits_per_token": float(tokenizer.quantizer.bits_per_token),
    }
    weights_file = Path(name) / "model.safetensors"
    if os.path.isdir(name) and weights_file.is_file():
        info["weights_file_sha256"] = sha256_file(weights_file)
    cfg = tokenizer.pretrained_cfg
    if cfg is not None:
        info["pretrained"] = {
            "hub_id": cfg.hub_id,
            "revision": cfg.revision,
            "license": cfg.license,
            "training_data": cfg.training_data,
        }
    return info


def _reconstruction_paths(names: Sequence[str]) -> dict[str, str]:
    """PNG file names (relative) for input names: ``a/b.jpg -> a/b.png``, or ``a/b.jpg.png``
    for all names when two inputs would collide."""
    stems = {n: str(Path(n).with_suffix(".png")) for n in names}
    if len(set(stems.values())) == len(stems):
        return stems
    return {n: n + ".png" for n in names}


# --------------------------------------------------------------------------- images
def evaluate_image_reconstruction(
    tokenizer: Any,
    *,
    model_name: str,
    data: str,
    num_tokens: Sequence[int] | None = None,
    metrics: Sequence[str] | None = None,
    resolution: tuple[int, int] | None = None,
    resize: str = "center-crop",
    interpolation: str = "bicubic",
    batch_size: int = 16,
    device: str = "auto",
    weights: dict[str, str | None] | None = None,
    save_reconstructions: str | None = None,
    skip_bad: bool = False,
    png_round_trip: bool = True,
    limit: int | None = None,
    progress: bool = True,
    command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Evaluate an image tokenizer on ``data``; returns the result dict (see :mod:`.protocol`).

    Args:
        tokenizer: a loaded image tokenizer.
        model_name: the name or path it was loaded by (recorded).
        data: folder, webdataset ``.tar`` shard(s), or ``"skimage"``.
        num_tokens: token counts for flexible-length tokenizers (default: all tokens).
        metrics: keys from :data:`zoo.metrics.IMAGE_METRICS`; default PSNR, SSIM, FD-EffLite0,
            plus MS-SSIM when the images are large enough.
        resolution: ``(H, W)``; default :func:`default_resolution`.
        resize: ``"center-crop"`` or ``"none"`` (see :class:`.sources.ResizeRule`).
        weights: metric weight files (see :func:`zoo.metrics.create_image_metrics`).
        save_reconstructions: folder for the reconstructions as PNG, named after the inputs
            (one subfolder ``tokens_<k>`` per token count when several are evaluated).
        skip_bad: skip unreadable files (listed in the result) instead of stopping.
        png_round_trip: measure 8-bit reconstructions (default) rather than float ones.
        limit: evaluate only the first ``limit`` images.
    """
    start = time.perf_counter()
    dev = resolve_device(device)
    ks = resolve_num_tokens(tokenizer, num_tokens)
    if resolution is None:
        resolution = default_resolution(tokenizer)
        if resolution is None:
            raise ValueError(
                f"{tokenizer._label}: has no fixed or pretrained resolution; pass --resolution"
            )
    rule = ResizeRule(tuple(int(r) for r in resolution), resize, interpolation)
    # Fail on an unusable size before reading any data.
    tokenizer.validate_input(torch.zeros(1, tokenizer.in_channels, *rule.resolution))
    source = open_image_source(data)  # a wrong path fails before any network is loaded
    names = list(metrics) if metrics else list(DEFAULT_METRICS["image"])
    if not metrics and min(rule.resolution) >= MSSSIM.min_size:
        names.insert(2, "ms_ssim")
    sets = create_metrics("image", names, copies=len(ks), weights=weights, quantize=png_round_trip)
    sets = [{k: m.to(dev) for k, m in s.items()} for s in sets]
    usage = [
        CodebookUsage(
            codebook_size=tokenizer.codebook_size, num_codebooks=tokenizer.num_codebooks
        ).to(dev)
        for _ in ks
    ]
    log = DataLog()
    tokenizer = tokenizer.to(dev).eval()
    bits: list[float | None] = [None] * len(ks)
    token_counts: list[int | None] = [None] * len(ks)
    out_dirs = _output_dirs(save_reconstructions, ks)
    batches = iter_image_batches(
        source, rule, batch_size=batch_size, skip_bad=skip_bad, log=log, limit=limit
    )
    from tqdm.auto import tqdm

    bar = tqdm(
        batches,
        total=num_batches(source, batch_size, limit),
        desc=f"reconstruct {model_name}",
        unit="batch",
        disable=not progress,
    )
    with torch.no_grad():
        for batch in bar:
            x_u8 = batch.images.to(dev)
            x = x_u8.float() / 127.5 - 1.0
            for metric in sets[0].values():  # originals once; other token counts share them
                if isinstance(metric, FrechetDistance):
                    metric.update(target=x_u8)
            paths = _reconstruction_paths(batch.names) if out_dirs else {}
            for i, k in enumerate(ks):
                codes = tokenizer.tokenize(x, num_tokens=k)
                x_hat = tokenizer.detokenize(codes)
                rec_u8 = to_uint8(x_hat)
                rec = rec_u8 if png_round_trip else x_hat.float().clamp(-1.0, 1.0)
                for metric in sets[i].values():
                    if isinstance(metric, FrechetDistance):
                        metric.update(rec)
                    else:
                        metric.update(rec, x_u8)
                usage[i].update(codes)
                b = bits_per_image(tokenizer, codes)
                if bits[i] is not None and b != bits[i]:
                    raise RuntimeError(f"bits per image changed between batches: {bits[i]} -> {b}")
                bits[i] = b
                token_counts[i] = int(np.prod(codes.shape[1:-1]))
                if out_dirs:
                    _save_pngs(rec_u8, batch.names, paths, out_dirs[i])
    h, w = rule.resolution
    results = []
    for i, k in enumerate(ks):
        values = {key: float(m.compute()) for key, m in sets[i].items()}
        results.append(
            {
                "num_tokens": token_counts[i] if k is None else k,
                "bits_per_image": bits[i],
                "bits_per_pixel": bits_per_pixel(bits[i], h, w),
                "metrics": values,
                "codebook": usage[i].compute(),
            }
        )
    metric_info = {key: m.describe() for key, m in sets[0].items()}
    metric_info["codebook"] = usage[0].describe()
    return {
        "schema": RECONSTRUCTION_SCHEMA,
        "modality": "image",
        "tokenizer": tokenizer_info(tokenizer, model_name),
        "data": {
            "source": source.describe(),
            "num_samples": len(log.manifest),
            "num_skipped": len(log.skipped),
            "skipped": log.skipped,
            "num_enlarged": log.enlarged,
            "limit": limit,
            "manifest_sha256": log.manifest_sha256(),
            "manifest": log.manifest,
        },
        "protocol": {
            "resolution": [h, w],
            "resize": rule.describe(),
            "value_range": [-1.0, 1.0],
            "input_pixels": "uint8 p -> p / 127.5 - 1",
            "png_round_trip": bool(png_round_trip),
            "reconstruction_pixels": "clip to [-1, 1], (x + 1) * 127.5, round to uint8",
            "batch_size": batch_size,
            "num_tokens": [r["num_tokens"] for r in results],
            "metric_names": names,
            "reconstructions_dir": str(save_reconstructions) if save_reconstructions else None,
        },
        "metrics": metric_info,
        "results": results,
        "environment": environment_info(dev),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "created": utc_now(),
        "command": list(command) if command is not None else None,
    }


def _output_dirs(root: str | None, ks: Sequence[int | None]) -> list[Path] | None:
    if root is None:
        return None
    base = Path(root)
    dirs = [base / f"tokens_{k}" for k in ks] if len(ks) > 1 else [base]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def _save_pngs(images_u8: torch.Tensor, names: Sequence[str], paths: dict[str, str], out: Path):
    arr = images_u8.permute(0, 2, 3, 1).cpu().numpy()
    for a, name in zip(arr, names, strict=True):
        dst = out / paths[name]
        with atomic_file(dst, clean_stale=False) as tmp:
            Image.fromarray(a).save(tmp, format="PNG")


#: ``modality -> evaluator(tokenizer, *, model_name, data, ...)``; :mod:`.reconstruct_audio`
#: adds ``"audio"`` (its options: num_codebooks, max_seconds instead of the image geometry).
EVALUATORS: dict[str, Callable[..., dict[str, Any]]] = {"image": evaluate_image_reconstruction}


def evaluate_reconstruction(tokenizer: Any, **options: Any) -> dict[str, Any]:
    """Evaluate ``tokenizer`` with the evaluator of its modality (see :data:`EVALUATORS`)."""
    modality = tokenizer.modality
    if modality not in EVALUATORS:
        raise NotImplementedError(
            f"{tokenizer._label}: no reconstruction evaluator for modality {modality!r} yet "
            f"(have {sorted(EVALUATORS)})"
        )
    return EVALUATORS[modality](tokenizer, **options)


# --------------------------------------------------------------------------- Markdown
def result_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-token-count table of a reconstruction result."""
    keys = list(result["protocol"]["metric_names"])
    header = ["tokens", "bits/image", "bpp"] + [METRIC_LABELS.get(k, k) for k in keys]
    header += ["codebook usage", "perplexity", "code entropy (bits)"]
    rows = []
    for r in result["results"]:
        cb = r["codebook"]
        rows.append(
            [str(r["num_tokens"]), f"{r['bits_per_image']:.1f}", f"{r['bits_per_pixel']:.4f}"]
            + [format_value(r["metrics"].get(k), k) for k in keys]
            + [
                f"{cb['codebook_usage']:.4f}",
                f"{cb['perplexity']:.1f}",
                f"{cb['code_entropy_bits']:.2f} / {cb['max_entropy_bits']:.2f}",
            ]
        )
    return header, rows


def reconstruction_markdown(result: dict[str, Any]) -> str:
    """The Markdown report written next to a reconstruction result JSON."""
    if result.get("modality") == "audio":
        from zoo.evaluation.reconstruct_audio import audio_reconstruction_markdown

        return audio_reconstruction_markdown(result)
    tok, data, proto = result["tokenizer"], result["data"], result["protocol"]
    h, w = proto["resolution"]
    header, rows = result_rows(result)
    lines = [
        f"# Reconstruction: `{tok['name']}`",
        "",
        f"- data: `{data['source']['spec']}` ({data['num_samples']} images, "
        f"{data['num_skipped']} skipped; manifest sha256 `{data['manifest_sha256'][:16]}`)",
        f"- resolution {h}x{w}: {proto['resize']['rule']}",
        f"- metrics on {'8-bit (PNG round trip)' if proto['png_round_trip'] else 'float'} "
        "reconstructions; FD-EffLite0 is a Fréchet distance on EfficientNet-Lite0 features, "
        "not FID",
        f"- tokenizer config sha256 `{tok['config_sha256'][:16]}`, weights sha256 "
        f"`{tok['weights_sha256'][:16]}`",
        f"- {result['environment']['device']}, {result['wall_time_s']:.1f} s, "
        f"zoo {result['environment']['zoo_version']}",
        "",
        markdown_table(header, rows),
    ]
    fd = [m for m in result["metrics"].values() if "num_real" in m]
    if fd and data["num_samples"] < max(m["feature_dim"] for m in fd):
        lines.append(
            f"Fréchet distances from {data['num_samples']} images (fewer than the feature "
            "dimension): biased upwards; compare only at equal sample counts.\n"
        )
    return "\n".join(lines)
