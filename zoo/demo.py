"""Reconstruct real photos with a shipped tokenizer: tokens, bits, PSNR and SSIM per image.

    python -m zoo.demo                                   # the shipped default tokenizer
    python -m zoo.demo --model path/to/exported_folder --num-tokens 8,32 --out recon.png

Photos are the ones bundled with scikit-image and matplotlib (see ``zoo.data.samples``), none of
which the shipped tokenizer was trained on. Each is resized (antialiased) and centre-cropped to
the tokenizer's input size; PSNR/SSIM are measured on 8-bit outputs (the PNG round trip). The
figure shows the original, then the reconstruction at each token count. An existing ``--out``
image is replaced only with ``--overwrite``.
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
from zoo.data.samples import resize_center_crop, sample_photo_tensor
from zoo.metrics import PSNR, SSIM

DEFAULT_MODEL = "titok_cpu_flex.photos64"
DEFAULT_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "grace_hopper")


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo.demo", description=__doc__.split("\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="registry name, folder or hf-hub:id")
    p.add_argument("--photos", default=",".join(DEFAULT_PHOTOS), help="comma-separated names")
    p.add_argument(
        "--num-tokens", default="", help="comma-separated token counts (flexible tokenizers)"
    )
    p.add_argument("--out", default="demo_reconstructions.png", help="side-by-side PNG")
    p.add_argument("--scale", type=int, default=3, help="pixel zoom of the PNG (nearest)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out image")
    args = p.parse_args(argv)
    inputs = [args.model] if Path(args.model).exists() else []
    check_cli_outputs(p.prog, [args.out], inputs=inputs, overwrite=args.overwrite)

    tok = zoo.load(args.model).eval()
    if tok.input_size is None:
        raise SystemExit(f"{args.model}: this demo expects a fixed-size image tokenizer")
    h, w = tok.input_size
    if args.num_tokens:
        counts = [int(v) for v in args.num_tokens.split(",")]
    elif tok.flexible_length:
        counts = [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k <= tok.num_tokens]
        counts = counts[-4:]
    else:
        counts = [tok.num_tokens]
    names = [n.strip() for n in args.photos.split(",") if n.strip()]
    x = torch.stack([resize_center_crop(sample_photo_tensor(n), h, w) for n in names])

    print(
        f"tokenizer {args.model}: {tok.num_tokens} tokens max, codebook {tok.codebook_size} "
        f"x {tok.num_codebooks}, {tok.quantizer.bits_per_token:.2f} bits/token, "
        f"input {h}x{w}"
    )
    print(f"{'photo':<18} {'tokens':>6} {'bits':>6} {'bpp':>7} {'PSNR dB':>8} {'SSIM':>6}")
    columns = [x]
    summary = []
    for k in counts:
        t0 = time.perf_counter()
        with torch.no_grad():
            codes = tok.tokenize(x, num_tokens=k if tok.flexible_length else None)
            x_hat = tok.detokenize(codes).clamp(-1, 1)
        elapsed = time.perf_counter() - t0
        bits = tok.bits_per_item(k if tok.flexible_length else None)
        psnr_all, ssim_all = PSNR(), SSIM()
        for i, name in enumerate(names):
            psnr, ssim = PSNR(), SSIM()
            psnr.update(x_hat[i : i + 1], x[i : i + 1])
            ssim.update(x_hat[i : i + 1], x[i : i + 1])
            print(
                f"{name:<18} {codes.shape[1]:>6} {bits:>6.0f} {bits / (h * w):>7.4f} "
                f"{float(psnr.compute()):>8.2f} {float(ssim.compute()):>6.3f}"
            )
        psnr_all.update(x_hat, x)
        ssim_all.update(x_hat, x)
        summary.append((k, bits, float(psnr_all.compute()), float(ssim_all.compute()), elapsed))
        columns.append(x_hat)
    print("\nmean over photos:")
    for k, bits, psnr, ssim, elapsed in summary:
        print(
            f"  {k:>3} tokens  {bits:>6.0f} bits  PSNR {psnr:6.2f} dB  SSIM {ssim:.3f}  "
            f"({elapsed * 1e3 / len(names):.1f} ms/image encode+decode)"
        )

    rows = [np.concatenate([_to_uint8(col[i]) for col in columns], axis=1) for i in range(len(x))]
    grid = Image.fromarray(np.concatenate(rows, axis=0))
    grid = grid.resize((grid.width * args.scale, grid.height * args.scale), Image.NEAREST)
    out = Path(args.out)
    with atomic_file(out) as tmp:
        grid.save(tmp, format="PNG")
    print(f"\nwrote {out} (columns: original, then {', '.join(map(str, counts))} tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
