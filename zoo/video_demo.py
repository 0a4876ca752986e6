"""Tokenize a video file and write the original and the reconstruction side by side.

    python -m zoo.video_demo clip.mp4 --out side_by_side.mp4      # or .gif
    python -m zoo.video_demo clip.mp4 --model causal3d_test --random-init --out s.gif

The clip's first ``--frames`` frames (default: the model's clip length; cut to a count the
model takes: 1 + 4k for causal 3D models) are resized so the short side is ``--size`` (default:
the model's frame size) and centre-cropped square, tokenized, detokenized and written next to
each other (MP4: H.264 at CRF 12 through PyAV; GIF: Pillow). The codes' size is printed: bits per
clip, bits per pixel, kbps at the clip's frame rate, and PSNR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import zoo
from zoo._argtypes import int_in
from zoo._io import atomic_file, atomic_write_bytes, check_cli_outputs
from zoo.data.bad_files import BadSampleError
from zoo.data.video import VideoCrop, decode_video, encode_h264, probe_video
from zoo.metrics import psnr

PROG = "python -m zoo.video_demo"
#: The shipped video tokenizer.
DEFAULT_MODEL = "causal3d_cpu_f8.clips"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("video", help="a video file (anything FFmpeg decodes: MP4, MKV, WebM, ...)")
    p.add_argument("--out", required=True, help="side-by-side output: .mp4 or .gif")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"default: {DEFAULT_MODEL}")
    p.add_argument(
        "--random-init", action="store_true", help="a registered architecture, random weights"
    )
    p.add_argument("--frames", type=int_in(1, 1025), default=None)
    p.add_argument("--size", type=int_in(8, 4096), default=None)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    return p


def _frame_count(tok: object, available: int, asked: int | None) -> int:
    """The longest count the model takes that is at most what is asked for and available."""
    want = min(asked or getattr(tok, "num_frames", available), available)
    valid = getattr(tok, "valid_num_frames", None)
    for n in range(want, 0, -1):
        if valid is None or valid(n):
            return n
    raise SystemExit(f"{PROG}: the clip has {available} frame(s); {tok._label} takes none of them")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if out.suffix.lower() not in (".mp4", ".gif"):
        raise SystemExit(f"{PROG}: --out {args.out!r} must end in .mp4 or .gif")
    check_cli_outputs(PROG, [out], inputs=[args.video], overwrite=args.overwrite)
    if args.random_init:
        torch.manual_seed(0)
        tok = zoo.create_tokenizer(args.model).eval()
    else:
        tok = zoo.load(args.model).eval()
    if tok.modality != "video":
        raise SystemExit(f"{PROG}: {args.model!r} is a {tok.modality} tokenizer, not a video one")
    try:
        info = probe_video(args.video)
        n = _frame_count(tok, info.num_frames, args.frames)
        frames = decode_video(args.video, num_frames=n)
    except BadSampleError as err:
        raise SystemExit(f"{PROG}: {err}") from None
    size = args.size or int(getattr(tok, "frame_size", 128))
    x = VideoCrop(crop_size=size, min_short_side=size, max_short_side=size, flip=False)(
        frames, None
    ).unsqueeze(0)
    with torch.no_grad():
        codes = tok.tokenize(x)
        x_hat = tok.detokenize(codes).clamp(-1, 1)
    bits = float(codes[0, ..., 0].numel() * tok.quantizer.bits_per_token)
    t, h, w = x.shape[2:]
    fps = info.fps or 25.0
    to_u8 = lambda v: ((v[0].permute(1, 2, 3, 0) + 1) * 127.5).round().byte().numpy()  # noqa: E731
    pair = np.concatenate([to_u8(x), to_u8(x_hat)], axis=2)  # (T, H, 2W, 3)
    if out.suffix.lower() == ".gif":
        with atomic_file(out) as tmp:
            images = [Image.fromarray(f) for f in pair]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                           duration=round(1000 / fps), loop=0)  # fmt: skip
    else:
        atomic_write_bytes(out, encode_h264(pair, fps, options={"crf": "12", "preset": "medium"}))
    print(
        f"{args.video}: {t} frames of {h}x{w} -> codes {tuple(codes.shape)}, {bits:.0f} bits "
        f"({bits / (t * h * w):.4f} bpp, {bits * fps / t / 1000:.1f} kbps at {fps:g} fps), "
        f"PSNR {psnr(x_hat, x).item():.2f} dB\nwrote {out} (left: original, right: "
        "reconstruction)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
