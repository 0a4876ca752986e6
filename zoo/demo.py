"""Reconstruct real photos with the shipped image tokenizers, next to WebP at the same bits.

    python -m zoo.demo                                   # the shipped image default vs WebP
    python -m zoo.demo --model path/to/exported_folder --num-tokens 8,32 --out recon.png
    python -m zoo.demo --compare other_tokenizer --codec ""   # two tokenizers, no baseline

Photos are the ones bundled with scikit-image and matplotlib (see ``zoo.data.samples``), none of
which the shipped tokenizers were trained on. Each is resized (antialiased) and centre-cropped to
the tokenizer's input size; PSNR/SSIM are measured on 8-bit outputs (the PNG round trip). The
figure shows, per photo, the original, the flexible-length tokenizer at each token count, the
2D tokenizer (``--compare``), and WebP (``--codec``) with its quality searched per photo to the
bits of the tokenizer's longest prefix. An existing ``--out`` image is replaced only with
``--overwrite``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import zoo
from zoo._io import atomic_file, check_cli_outputs
from zoo.data.samples import SAMPLE_PHOTOS, resize_center_crop, sample_photo_tensor
from zoo.evaluation.baselines.images import available_codecs, decode, match_rate
from zoo.metrics import PSNR, SSIM

DEFAULT_MODEL = "titok_cpu_latent128.photos"
DEFAULT_COMPARE = "vqgan_cpu_f8.photos"
DEFAULT_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "grace_hopper")
MAX_SCALE = 8


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


def _from_uint8(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 127.5 - 1


def _scores(x_hat: torch.Tensor, x: torch.Tensor) -> tuple[list[float], list[float], float, float]:
    """Per-photo and overall PSNR / SSIM of 8-bit (PNG round-tripped) reconstructions."""
    x_hat = torch.stack([_from_uint8(_to_uint8(im)) for im in x_hat])
    per_psnr, per_ssim = [], []
    for i in range(len(x)):
        p, s = PSNR(), SSIM()
        p.update(x_hat[i : i + 1], x[i : i + 1])
        s.update(x_hat[i : i + 1], x[i : i + 1])
        per_psnr.append(float(p.compute()))
        per_ssim.append(float(s.compute()))
    p, s = PSNR(), SSIM()
    p.update(x_hat, x)
    s.update(x_hat, x)
    return per_psnr, per_ssim, float(p.compute()), float(s.compute())


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m zoo.demo", description=__doc__.split("\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="registry name, folder or hf-hub:id")
    p.add_argument(
        "--compare", default=DEFAULT_COMPARE, help="a second (e.g. 2D) tokenizer; '' for none"
    )
    p.add_argument(
        "--codec",
        default="webp",
        help=f"classical baseline at matched bits ({', '.join(available_codecs())}; '' for none)",
    )
    p.add_argument("--photos", default=",".join(DEFAULT_PHOTOS), help="comma-separated names")
    p.add_argument(
        "--num-tokens", default="", help="comma-separated token counts (flexible tokenizers)"
    )
    p.add_argument("--out", default="demo_reconstructions.png", help="side-by-side PNG")
    p.add_argument("--scale", type=int, default=2, help=f"pixel zoom of the PNG, 1-{MAX_SCALE}")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out image")
    args = p.parse_args(argv)
    if not 1 <= args.scale <= MAX_SCALE:
        p.error(f"--scale must lie in 1..{MAX_SCALE}, got {args.scale}")
    if args.codec and args.codec not in available_codecs():
        p.error(f"--codec must be one of {available_codecs()} or '', got {args.codec!r}")
    if args.num_tokens:
        try:
            args.counts = [int(v) for v in args.num_tokens.split(",")]
        except ValueError:
            p.error(f"--num-tokens takes comma-separated integers, got {args.num_tokens!r}")
    else:
        args.counts = None
    args.names = [n.strip() for n in args.photos.split(",") if n.strip()]
    unknown = [n for n in args.names if n not in SAMPLE_PHOTOS]
    if not args.names or unknown:
        p.error(
            f"--photos takes comma-separated names of bundled photos, got {args.photos!r}"
            + (f" ({', '.join(map(repr, unknown))} unknown)" if unknown else "")
            + f"; choose from {', '.join(SAMPLE_PHOTOS)}"
        )
    inputs = [m for m in (args.model, args.compare) if m and Path(m).exists()]
    check_cli_outputs(p.prog, [args.out], inputs=inputs, overwrite=args.overwrite)
    return args


def _load(name: str, *, any_size: bool = False) -> zoo.Tokenizer:
    """An image tokenizer; the main one must have a fixed input size (the photos are cut to
    it), a compared one may be fully convolutional (it then codes the same size)."""
    tok = zoo.load(name).eval()
    if tok.modality != "image" or (tok.input_size is None and not any_size):
        raise SystemExit(f"{name}: this demo expects a fixed-size image tokenizer")
    return tok


def _row(label: str, k: int | str, bits: float, pixels: int, psnr: float, ssim: float) -> str:
    return f"  {label:<32} {k!s:>6} {bits:>7.0f} {bits / pixels:>7.4f} {psnr:>8.2f} {ssim:>6.3f}"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    tok = _load(args.model)
    h, w = tok.input_size
    pixels = h * w
    if args.counts is not None:
        counts = args.counts
    elif tok.flexible_length:
        counts = [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k <= tok.num_tokens]
        counts = counts[-4:]
    else:
        counts = [tok.num_tokens]
    names = args.names
    x = torch.stack([resize_center_crop(sample_photo_tensor(n), h, w) for n in names])
    print(
        f"{len(names)} bundled photos at {h}x{w} (never seen in training); bits are per image, "
        "PSNR/SSIM over all photos on 8-bit outputs"
    )
    print(f"  {'method':<32} {'tokens':>6} {'bits':>7} {'bpp':>7} {'PSNR dB':>8} {'SSIM':>6}")
    columns, labels, per_photo = [x], ["original"], []
    top_bits = 0.0
    for k in counts:
        t0 = time.perf_counter()
        with torch.no_grad():
            codes = tok.tokenize(x, num_tokens=k if tok.flexible_length else None)
            x_hat = tok.detokenize(codes).clamp(-1, 1)
        ms = (time.perf_counter() - t0) * 1e3 / len(names)
        bits = tok.bits_per_item(k if tok.flexible_length else None)
        top_bits = max(top_bits, bits)
        pp, ps, psnr, ssim = _scores(x_hat, x)
        print(_row(args.model, codes.shape[1], bits, pixels, psnr, ssim) + f"  ({ms:.0f} ms/image)")
        columns.append(x_hat)
        labels.append(f"{codes.shape[1]} tokens")
        per_photo.append((f"{codes.shape[1]} tok", pp))
    if args.compare:
        other = _load(args.compare, any_size=True)
        x2 = torch.stack([resize_center_crop(sample_photo_tensor(n), h, w) for n in names])
        with torch.no_grad():
            codes = other.tokenize(x2)
            x_hat = other.detokenize(codes).clamp(-1, 1)
        # Bits of the codes at this size (a fully convolutional model's nominal size may differ).
        bits = codes[0, ..., 0].numel() * other.quantizer.bits_per_token
        pp, ps, psnr, ssim = _scores(x_hat, x2)
        print(_row(args.compare, codes[0, ..., 0].numel(), bits, pixels, psnr, ssim))
        columns.append(x_hat)
        labels.append(args.compare.split(".")[0])
        per_photo.append((args.compare.split("_")[0], pp))
    if args.codec:
        recon, sizes = [], []
        for img in x:
            m = match_rate(args.codec, _to_uint8(img), top_bits / 8)
            recon.append(_from_uint8(decode(m.data, (h, w))))
            sizes.append(m.num_bytes * 8)
        x_hat = torch.stack(recon)
        pp, ps, psnr, ssim = _scores(x_hat, x)
        bits = float(np.mean(sizes))
        print(_row(f"{args.codec.upper()} (whole file)", "-", bits, pixels, psnr, ssim))
        columns.append(x_hat)
        labels.append(args.codec.upper())
        per_photo.append((args.codec.upper(), pp))

    print("\nPSNR per photo (dB):")
    print(f"  {'photo':<18}" + "".join(f"{lab:>12}" for lab, _ in per_photo))
    for i, name in enumerate(names):
        print(f"  {name:<18}" + "".join(f"{vals[i]:>12.2f}" for _, vals in per_photo))

    rows = [np.concatenate([_to_uint8(col[i]) for col in columns], axis=1) for i in range(len(x))]
    grid = Image.fromarray(np.concatenate(rows, axis=0))
    grid = grid.resize((grid.width * args.scale, grid.height * args.scale), Image.NEAREST)
    out = Path(args.out)
    with atomic_file(out) as tmp:
        grid.save(tmp, format="PNG")
    print(f"\nwrote {out} (columns: {', '.join(labels)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
