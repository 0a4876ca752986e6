"""Ported image tokenizers on CPU: the zoo against the reference packages with the same weights.

For every ported family with a pip-installable reference, both sides get the same random weights
(as the port parity tests in tests/tokenizers/image/ build them), converted by the zoo's own
converters, and run interleaved in this process on the same real photo (the order alternates
every repeat), under ``torch.inference_mode``:

- ``llamagen``: ``llamagen_vq_f16`` (= Janus's generation VQ, the same network) against
  transformers' ``JanusVQVAE`` at the published configuration (its state dict goes through
  ``convert_llamagen_state_dict``), 256 px; unit-norm codewords as LlamaGen initialises them
  (transformers' raw-l2 lookup then agrees with LlamaGen's normalised one).
- ``chameleon``: ``chameleon_vq_f16`` against transformers' ``ChameleonVQVAE`` for the codes (it
  has no decoder) and diffusers' ``VQModel`` of the same configuration for the decoder; the
  weights reach the zoo in taming's layout (Chameleon's ``vqgan.ckpt``) through
  ``convert_taming_state_dict``. 256 px by default (nominal 512 px, where the reference takes
  13 s per encode + decode on 2 threads).
- ``amused``: ``amused_vq_f16`` against diffusers' ``VQModel`` (aMUSEd's ``vqvae/``) through
  ``convert_taming_state_dict``, 256 px.
- ``emu3``: ``emu3_vq_f8`` (ch 256, 270M parameters) against transformers' ``Emu3VQVAE`` through
  ``convert_emu3_state_dict``, 64 px by default (nominal 512 px; the reference runs its 2D
  encoder and decoder on 4 identical frames of an image and takes 19 s per encode + decode at
  128 px on 2 threads; the zoo runs them on one frame: the same numbers for a quarter of the
  work).

Not compared: TiTok (no pip-installable upstream; its parity test uses a re-implementation),
``llamagen_vq_f8`` / ``janus_vq_f16`` (the same code path as ``llamagen_vq_f16``).

Codes must be identical and the reconstructions within 1e-4 (images in [-1, 1]); the ratios
zoo / reference of encode (tokenize), decode (detokenize) and total time are medians over
``--repeats`` runs after a warm-up. ``torch.set_num_threads(--threads)`` (default 2), eval
mode, batch 1 (the astronaut photo, resized and centre-cropped; the codewords are fitted to the
latents of astronaut and coffee so codes vary). The results go to stdout as Markdown, and with
``--json`` / ``--markdown`` to files, with the machine, threads, allocator, versions, load
average and command line. ``--quick`` is a smoke run (64 px, 1 repeat): it checks the script,
its numbers are not measurements. ``--merge`` joins the JSON files of several runs into one
table (e.g. where a shared machine can be kept quiet for less than a minute at a time): runs of
the same pair pool their timed runs, and every run's command and load averages are listed.

    python benchmarks/image_tokenizers.py --repeats 5 --json results/image_tokenizers.json \\
        --markdown results/image_tokenizers.md
    python benchmarks/image_tokenizers.py --quick             # smoke run
    python benchmarks/image_tokenizers.py --pairs amused --size 512   # one pair, other size
    python benchmarks/image_tokenizers.py --pairs emu3 --repeats 2 --json scratch/emu3_1.json
    python benchmarks/image_tokenizers.py --merge scratch/*.json --json out.json --markdown out.md
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from _machine import cpu_name, preloaded_allocator, write_report

import zoo
from zoo.data.samples import resize_center_crop, sample_photo_tensor

# The pairs are the port parity tests' (tests/tokenizers/image): the same random init and the
# same upstream key layouts, so the benchmark times exactly what those tests prove equal.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tokenizers" / "image"))
from ports_common import randomize_  # noqa: E402
from test_ports_taming import taming_layout  # noqa: E402

#: Largest accepted |zoo - reference| of the decoded images (values in [-1, 1]).
IMAGE_TOLERANCE = 1e-4
#: Photos the codewords are fitted to, and the timed photo (batch 1).
FIT_PHOTOS = ("astronaut", "coffee")
TIMED_PHOTO = "astronaut"


def photos(size: int, names: tuple[str, ...] = FIT_PHOTOS) -> torch.Tensor:
    """Bundled real photos ``(B, 3, size, size)`` in [-1, 1] (resized, centre-cropped)."""
    return torch.stack([resize_center_crop(sample_photo_tensor(n), size) for n in names])


# ---------------------------------------------------------------------- zoo vs reference
@dataclass
class Pair:
    """One side-by-side comparison: the zoo tokenizer and a reference with the same weights.

    ``ref_tokenize(x)`` returns the reference's codes in its own layout, ``ref_codes(native)``
    turns them into the zoo's ``(B, h, w, 1)``, ``ref_detokenize(native)`` returns images
    ``(B, 3, H, W)``.
    """

    name: str
    reference: str
    compared: str
    tok: Any
    ref_tokenize: Callable[[torch.Tensor], Any]
    ref_detokenize: Callable[[Any], torch.Tensor]
    ref_codes: Callable[[Any], torch.Tensor]


def llamagen_pair(size: int) -> Pair:
    """transformers' ``JanusVQVAE`` vs the zoo's ``llamagen_vq_f16`` (tests/.../
    test_ports_llamagen.py)."""
    from transformers import JanusVQVAE, JanusVQVAEConfig

    from zoo.tokenizers.image.vqgan2d import convert_llamagen_state_dict

    tok = zoo.create_tokenizer("llamagen_vq_f16", image_size=size).eval()
    cfg = JanusVQVAEConfig(channel_multiplier=[1, 1, 2, 2, 4], num_patches=size // tok.factor)
    ref = randomize_(JanusVQVAE(cfg), seed=16, unit_codewords=True)  # LlamaGen's init
    tok.load_state_dict(convert_llamagen_state_dict(ref.state_dict(), tok))
    side = size // tok.factor
    return Pair(
        name="llamagen_vq_f16",
        reference=f"transformers {_version('transformers')} JanusVQVAE",
        compared="LlamaGen VQ-16 / Janus generation VQ (72M): encode() -> 16384 unit-norm "
        "codes, decode(image_tokens)",
        tok=tok,
        ref_tokenize=lambda x: ref.encode(x).image_tokens,
        ref_detokenize=lambda codes: ref.decode(codes.view(-1, side * side)),
        ref_codes=lambda codes: codes.view(-1, side, side, 1),
    )


def _vq_model(widths: list[int], latent: int, mid_attention: bool, size: int, seed: int):
    """diffusers ``VQModel`` with random weights and codewords spread like the encoder's latents
    of the photos (as tests/.../test_ports_taming.py)."""
    from diffusers import VQModel

    n = len(widths)
    vq = VQModel(
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(widths), layers_per_block=2, latent_channels=latent,
        num_vq_embeddings=8192, vq_embed_dim=latent, norm_num_groups=32, sample_size=size,
        mid_block_add_attention=mid_attention, lookup_from_codebook=True,
    )  # fmt: skip
    randomize_(vq, seed)
    with torch.no_grad():
        z = vq.encode(photos(size)).latents
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(vq.quantize.embedding.weight.shape, generator=g)
        vq.quantize.embedding.weight.copy_(z.mean() + z.std() * w)
    return vq


def _diffusers_tokenize(vq):
    def tokenize(x):
        z = vq.encode(x).latents
        return vq.quantize(z)[2][2].view(x.shape[0], *z.shape[2:])

    return tokenize


def _diffusers_detokenize(vq, latent: int):
    def detokenize(codes):
        shape = (*codes.shape, latent)
        return vq.decode(codes.flatten(), force_not_quantize=True, shape=shape).sample

    return detokenize


def chameleon_pair(size: int) -> Pair:
    """transformers' ``ChameleonVQVAE`` (codes) + diffusers' ``VQModel`` (decoder) vs the zoo's
    ``chameleon_vq_f16`` loaded from taming's layout."""
    from transformers import ChameleonVQVAE, ChameleonVQVAEConfig

    from zoo.tokenizers.image.vqgan2d import convert_taming_state_dict

    ch = 128
    widths = [ch, ch, 2 * ch, 2 * ch, 4 * ch]
    vq = _vq_model(widths, latent=256, mid_attention=True, size=size, seed=7)
    taming = taming_layout(vq.state_dict(), levels=5)
    enc = ChameleonVQVAE(ChameleonVQVAEConfig(resolution=size, base_channels=ch)).eval()
    enc.load_state_dict({k: v for k, v in taming.items() if not k.startswith("decoder.")})
    tok = zoo.create_tokenizer("chameleon_vq_f16", image_size=size).eval()
    tok.load_state_dict(convert_taming_state_dict({"state_dict": taming}, tok))
    side = size // tok.factor
    detokenize = _diffusers_detokenize(vq, 256)
    return Pair(
        name="chameleon_vq_f16",
        reference=f"transformers {_version('transformers')} ChameleonVQVAE.encode + diffusers "
        f"{_version('diffusers')} VQModel.decode",
        compared="Chameleon's taming VQGAN (ch 128, mid attention, 8192 x 256 l2 codes): "
        "transformers' encoder for the codes (it has no decoder), diffusers' VQModel of the same "
        "weights for decode",
        tok=tok,
        ref_tokenize=lambda x: enc.encode(x).image_tokens.view(x.shape[0], side, side),
        ref_detokenize=detokenize,
        ref_codes=lambda codes: codes[..., None],
    )


def amused_pair(size: int) -> Pair:
    """diffusers' ``VQModel`` (aMUSEd's ``vqvae/``) vs the zoo's ``amused_vq_f16``."""
    from zoo.tokenizers.image.vqgan2d import convert_taming_state_dict

    b = 128
    widths = [b, 2 * b, 2 * b, 4 * b, 6 * b]
    vq = _vq_model(widths, latent=64, mid_attention=False, size=size, seed=3)
    tok = zoo.create_tokenizer("amused_vq_f16", image_size=size).eval()
    tok.load_state_dict(convert_taming_state_dict(vq.state_dict(), tok))
    return Pair(
        name="amused_vq_f16",
        reference=f"diffusers {_version('diffusers')} VQModel",
        compared="aMUSEd's VQGAN (widths 128-768, no attention, 8192 x 64 l2 codes): "
        "encode() + quantize(), decode(force_not_quantize=True)",
        tok=tok,
        ref_tokenize=_diffusers_tokenize(vq),
        ref_detokenize=_diffusers_detokenize(vq, 64),
        ref_codes=lambda codes: codes[..., None],
    )


def emu3_pair(size: int) -> Pair:
    """transformers' ``Emu3VQVAE`` vs the zoo's ``emu3_vq_f8`` (tests/.../test_ports_emu3.py)."""
    from transformers import Emu3VQVAE, Emu3VQVAEConfig

    from zoo.tokenizers.image.emu3 import convert_emu3_state_dict

    ch = 256
    cfg = Emu3VQVAEConfig(
        base_channels=ch, hidden_size=ch * 4, channel_multiplier=[1, 2, 2, 4], attn_resolutions=[3]
    )
    ref = randomize_(Emu3VQVAE(cfg), seed=5)
    with torch.no_grad():  # codewords spread like the latents, per channel
        x = photos(size)[:, None].repeat(1, cfg.temporal_downsample_factor, 1, 1, 1)
        z = ref.quant_conv(ref.encoder(x).transpose(1, 2))
        g = torch.Generator().manual_seed(5)
        w = torch.randn(ref.quantize.embedding.weight.shape, generator=g)
        dims = (0, 2, 3, 4)
        ref.quantize.embedding.weight.copy_(z.mean(dims) + z.std(dims) * w)
    tok = zoo.create_tokenizer("emu3_vq_f8", image_size=size).eval()
    tok.load_state_dict(convert_emu3_state_dict(ref.state_dict(), tok))

    def ref_tokenize(x):
        sizes = torch.tensor([list(x.shape[-2:])] * x.shape[0])
        return torch.stack(ref.encode(x, image_sizes=sizes).image_tokens)

    return Pair(
        name="emu3_vq_f8",
        reference=f"transformers {_version('transformers')} Emu3VQVAE",
        compared="Emu3's vision tokenizer (ch 256, 270M, 32768 x 4 l2 codes): encode(image_sizes=) "
        "-> image_tokens, decode() -> frame 0; the reference runs its 2D encoder and decoder on "
        "the 4 identical frames of an image, the zoo on one",
        tok=tok,
        ref_tokenize=ref_tokenize,
        ref_detokenize=ref.decode,
        ref_codes=lambda codes: codes[..., None],
    )


PAIRS = {
    "llamagen": llamagen_pair,
    "chameleon": chameleon_pair,
    "amused": amused_pair,
    "emu3": emu3_pair,
}
#: Default image side per pair (see the module docstring for the ones below nominal size).
SIZES = {"llamagen": 256, "chameleon": 256, "amused": 256, "emu3": 64}
#: Nominal image side of each zoo model (its ``image_size`` / published resolution).
NATIVE = {"llamagen": 256, "chameleon": 512, "amused": 256, "emu3": 512}


def bench_pair(key: str, size: int, repeats: int, first: str = "reference") -> dict:
    """Zoo vs reference on the same photo, interleaved (the order alternates every repeat,
    ``first`` going first in the first one, so neither side always runs on a warmer cache), both
    under ``torch.inference_mode``."""
    torch.manual_seed(0)
    pair = PAIRS[key](size)
    tok = pair.tok
    x = photos(size, (TIMED_PHOTO,))
    sides = {
        "reference": (pair.ref_tokenize, pair.ref_detokenize),
        "zoo": (tok.tokenize, tok.detokenize),
    }

    def run(side: str) -> tuple[float, float, Any, torch.Tensor]:
        encode, decode = sides[side]
        with torch.inference_mode():
            t0 = time.perf_counter()
            codes = encode(x)
            t1 = time.perf_counter()
            image = decode(codes)
            t2 = time.perf_counter()
        return t1 - t0, t2 - t1, codes, image

    _, _, ref_native, ref_image = run("reference")  # warm-up and the parity check
    _, _, codes, image = run("zoo")
    ref_codes = pair.ref_codes(ref_native)
    times: dict[str, list[tuple[float, float]]] = {"reference": [], "zoo": []}
    for i in range(repeats):
        order = ("reference", "zoo") if first == "reference" else ("zoo", "reference")
        for side in order if i % 2 == 0 else order[::-1]:
            times[side].append(run(side)[:2])
    out: dict[str, Any] = {
        "name": pair.name,
        "reference": pair.reference,
        "compared": pair.compared,
        "size": size,
        "native_size": NATIVE[key],
        "params_M": round(sum(p.numel() for p in tok.parameters()) / 1e6, 1),
        "codes_shape": list(codes.shape),
        "distinct_codes": int(codes.unique().numel()),
        "codes_equal": bool(torch.equal(codes, ref_codes)),
        "max_abs_image_diff": float((image - ref_image).abs().max()),
        # every timed run, (encode, decode) seconds: --merge pools them
        "reference_runs_s": [[round(e, 5), round(d, 5)] for e, d in times["reference"]],
        "zoo_runs_s": [[round(e, 5), round(d, 5)] for e, d in times["zoo"]],
    }
    return summarize(out)


def summarize(row: dict) -> dict:
    """``row`` with the medians of its timed runs, the ratios zoo / reference and the verdict."""
    row["repeats"] = len(row["zoo_runs_s"])
    for side in ("reference", "zoo"):
        runs = row[f"{side}_runs_s"]
        row[f"{side}_encode_s"] = round(statistics.median(e for e, _ in runs), 4)
        row[f"{side}_decode_s"] = round(statistics.median(d for _, d in runs), 4)
        row[f"{side}_total_s"] = round(statistics.median(e + d for e, d in runs), 4)
    for part in ("encode", "decode", "total"):
        row[f"ratio_{part}"] = round(row[f"zoo_{part}_s"] / row[f"reference_{part}_s"], 3)
    row["parity_ok"] = row["codes_equal"] and row["max_abs_image_diff"] <= IMAGE_TOLERANCE
    return row


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def markdown(results: dict) -> str:
    """The results as Markdown: the zoo-vs-reference table and how it was measured."""
    threads = results["threads"]
    m = results["machine"]
    lines = []
    if results["quick"]:
        lines += ["**Quick smoke run (1 repeat, 64 px): not a measurement.**", ""]
    pairs = results["vs_reference"]
    lines += [
        f"### Zoo vs reference, same weights (one real photo, {threads} threads, median of "
        "interleaved runs)",
        "",
        "| tokenizer | reference | px (nominal) | runs | encode ref / zoo (s) | "
        "decode ref / zoo (s) | total ref / zoo (s) | zoo / ref: encode | decode | total | "
        "codes equal | max abs image diff |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in pairs:
        lines.append(
            f"| {r['name']} | {r['reference']} | {r['size']} ({r['native_size']}) | "
            f"{r['repeats']} | {r['reference_encode_s']:.3f} / {r['zoo_encode_s']:.3f} | "
            f"{r['reference_decode_s']:.3f} / {r['zoo_decode_s']:.3f} | "
            f"{r['reference_total_s']:.3f} / {r['zoo_total_s']:.3f} | {r['ratio_encode']:.2f} | "
            f"{r['ratio_decode']:.2f} | {r['ratio_total']:.2f} | {r['codes_equal']} | "
            f"{r['max_abs_image_diff']:.2e} |"
        )
    lines += ["", "What is compared:", ""]
    lines += [f"- {r['name']}: {r['compared']}." for r in pairs]
    lines += [
        "",
        "Ratios are zoo time / reference time (below 1: the zoo is faster; the target is "
        "<= 0.83, i.e. >= 1.2x). Encode is `tokenize` (image -> codes), decode is `detokenize` "
        "(codes -> image). Both sides run in one process on the same photo "
        f"({TIMED_PHOTO}, resized and centre-cropped), alternating which goes first, under "
        "`torch.inference_mode`, batch 1, after a warm-up; `runs` timed runs per side. Random "
        "weights converted by the zoo's own converters; codes must be identical and the images "
        f"within {IMAGE_TOLERANCE:g}. Sizes below nominal: see benchmarks/image_tokenizers.py.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {threads} torch threads, allocator "
        f"{m['allocator']}; torch {m['torch']}, {m['versions']}.",
        "",
    ]
    for run in results["runs"]:
        load = ", ".join(f"{v:.2f}" for v in run["load_average"])
        load_end = ", ".join(f"{v:.2f}" for v in run["load_average_end"])
        lines.append(
            f"- `{run['command']}` ({', '.join(run['pairs'])}): load average (1/5/15 min) at "
            f"start {load}, at end {load_end}."
        )
    if len(results["runs"]) > 1:
        lines += ["", f"Merged by `{results['command']}`."]
    return "\n".join(lines) + "\n"


def merge(paths: list[Path]) -> dict:
    """One result from the JSON files of several runs. Rows of the same pair (at the same size)
    pool their timed runs (medians over all of them; codes must agree in every run, the largest
    image difference is kept); the files must agree on the machine, threads and quick mode."""
    parts = [json.loads(path.read_text()) for path in paths]
    first = parts[0]
    rows: dict[str, dict] = {}
    for path, part in zip(paths, parts, strict=True):
        for key in ("machine", "threads", "quick"):
            if part[key] != first[key]:
                raise ValueError(
                    f"--merge: {path} has {key} {part[key]!r}, {paths[0]} {first[key]!r}"
                )
        for row in part["vs_reference"]:
            seen = rows.get(row["name"])
            if seen is None:
                rows[row["name"]] = dict(row)
                continue
            if (seen["size"], seen["reference"]) != (row["size"], row["reference"]):
                raise ValueError(
                    f"--merge: {row['name']} was measured at {seen['size']} px against "
                    f"{seen['reference']} and at {row['size']} px against {row['reference']}"
                )
            seen["codes_equal"] = seen["codes_equal"] and row["codes_equal"]
            seen["max_abs_image_diff"] = max(seen["max_abs_image_diff"], row["max_abs_image_diff"])
            for side in ("reference", "zoo"):
                seen[f"{side}_runs_s"] = seen[f"{side}_runs_s"] + row[f"{side}_runs_s"]
    return {
        **{key: first[key] for key in ("quick", "threads", "machine")},
        "command": " ".join(["python", *sys.argv]),
        "runs": [run for part in parts for run in part["runs"]],
        "vs_reference": [summarize(row) for row in rows.values()],
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--repeats", type=int, default=3, help="timed runs per pair (default 3)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument(
        "--size",
        type=int,
        help="image side for every pair (default per pair: "
        + ", ".join(f"{k} {v}" for k, v in SIZES.items())
        + ")",
    )
    p.add_argument(
        "--pairs",
        nargs="+",
        default=list(PAIRS),
        choices=list(PAIRS),
        help="zoo-vs-reference comparisons to run (default: all)",
    )
    p.add_argument(
        "--first",
        choices=("reference", "zoo"),
        default="reference",
        help="side timed first in the first repeat (they alternate after; for runs of one "
        "repeat each, to --merge)",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 64 px, 1 repeat")
    p.add_argument(
        "--merge", nargs="+", type=Path, help="join these result files instead of measuring"
    )
    p.add_argument("--json", type=Path, help="also write the results here (JSON)")
    p.add_argument("--markdown", type=Path, help="also write the Markdown table here")
    args = p.parse_args()
    if args.merge:
        try:
            results = merge(args.merge)
        except (OSError, ValueError, KeyError) as err:
            p.error(str(err))
    else:
        if args.quick:
            args.size, args.repeats = 64, 1
        if args.size is not None and args.size % 16:
            p.error(f"--size must be a multiple of 16 (the f16 models' factor), got {args.size}")
        torch.set_num_threads(args.threads)
        command = " ".join(["python", *sys.argv])
        run = {"command": command, "pairs": args.pairs, "load_average": list(os.getloadavg())}
        results = {
            "quick": args.quick,
            "threads": args.threads,
            "command": command,
            "machine": {
                "torch": torch.__version__,
                "cpu": cpu_name(),
                "cores": os.cpu_count(),
                "allocator": preloaded_allocator(),
                "versions": ", ".join(
                    f"{p} {_version(p)}" for p in ("transformers", "diffusers", "numpy")
                ),
            },
            "runs": [run],
            "vs_reference": [
                bench_pair(k, args.size or SIZES[k], args.repeats, args.first) for k in args.pairs
            ],
        }
        run["load_average_end"] = list(os.getloadavg())
    table = markdown(results)
    write_report(table, results, args.json, args.markdown)


if __name__ == "__main__":
    main()
