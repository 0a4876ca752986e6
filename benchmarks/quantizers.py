"""Quantizers side by side with vector-quantize-pytorch: forward+backward time and peak memory.

Each case runs the zoo quantizer and its vector-quantize-pytorch counterpart on the same input
(B x N tokens, training mode, loss = sum of quantized^2 + aux loss, backward to the input).
Timing: both implementations in this one process (same allocator), interleaved, median of
``--repeats`` runs after warm-up. Peak memory: each implementation once more in a fresh
subprocess, after one untimed step: peak RSS growth during one step on CPU (VmHWM reset through
/proc/self/clear_refs), or
``torch.cuda.max_memory_allocated`` on GPU. Cases whose reference would need more memory than
``--max-ref-gib`` (it materialises 2^d probabilities per token) are reported as not runnable.

    python benchmarks/quantizers.py                      # full table (B=16, N=1024)
    python benchmarks/quantizers.py --tokens 64 --quick  # smoke run
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import torch

from zoo._io import atomic_write_json
from zoo.quantizers import create_quantizer


@dataclass
class Case:
    name: str
    dim: int
    ours: dict
    ref: tuple[str, dict] | None
    # Estimated bytes per token the reference materialises (to refuse impossible runs).
    ref_bytes_per_token: int = 0


def cases() -> list[Case]:
    vq_ref = {"decay": 0.99, "commitment_weight": 0.25, "rotation_trick": False}
    vq_ours = {"ema": 0.99, "commitment_weight": 0.25}
    out = [
        Case(
            "VQ d256 K1024",
            256,
            {"name": "vq", "dim": 256, "codebook_size": 1024, **vq_ours},
            ("VectorQuantize", {"dim": 256, "codebook_size": 1024, **vq_ref}),
        ),
        Case(
            "VQ d256 K16384",
            256,
            {"name": "vq", "dim": 256, "codebook_size": 16384, **vq_ours},
            ("VectorQuantize", {"dim": 256, "codebook_size": 16384, **vq_ref}),
            ref_bytes_per_token=16384 * 4 * 3,
        ),
        Case(
            "RVQ 8x1024 d256",
            256,
            {
                "name": "residual",
                "quantizer": "vq",
                "num_quantizers": 8,
                "quantizer_kwargs": {"dim": 256, "codebook_size": 1024, **vq_ours},
            },
            ("ResidualVQ", {"dim": 256, "num_quantizers": 8, "codebook_size": 1024, **vq_ref}),
        ),
        Case(
            "FSQ [8,8,8,5,5,5]",
            6,
            {"name": "fsq", "levels": [8, 8, 8, 5, 5, 5]},
            ("FSQ", {"levels": [8, 8, 8, 5, 5, 5]}),
        ),
    ]
    for d in (14, 18, 32, 128):
        ref = None
        if d <= 18:
            ref = (
                "LFQ",
                {
                    "dim": d,
                    "codebook_size": 2**d,
                    "entropy_loss_weight": 0.1,
                    "commitment_loss_weight": 0.25,
                },
            )
        out.append(
            Case(
                f"LFQ d{d} +entropy",
                d,
                {"name": "lfq", "dim": d, "entropy_loss_weight": 0.1, "commitment_weight": 0.25},
                ref,
                ref_bytes_per_token=(2**d) * 4 * 4,
            )
        )
    for d in (18, 32, 128):
        ref = None
        if d <= 18:
            ref = (
                "LFQ",
                {
                    "dim": d,
                    "codebook_size": 2**d,
                    "entropy_loss_weight": 0.1,
                    "commitment_loss_weight": 0.25,
                    "spherical": True,
                },
            )
        out.append(
            Case(
                f"BSQ d{d} +entropy",
                d,
                {"name": "bsq", "dim": d, "entropy_loss_weight": 0.1, "commitment_weight": 0.25},
                ref,
                ref_bytes_per_token=(2**d) * 4 * 4,
            )
        )
    return out


def build(case: Case, impl: str, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if impl == "zoo":
        kw = dict(case.ours)
        return create_quantizer(kw.pop("name"), **kw).to(device).train()
    import vector_quantize_pytorch as vqp

    cls_name, kw = case.ref
    return getattr(vqp, cls_name)(**kw).to(device).train()


def step(module: torch.nn.Module, impl: str, z: torch.Tensor) -> None:
    x = z.detach().requires_grad_(True)
    if impl == "zoo":
        out = module(x)
        loss = out.quantized.square().sum() + out.loss
    else:
        res = module(x)
        quantized, aux = res[0], res[-1]
        loss = quantized.square().sum() + (aux.sum() if torch.is_tensor(aux) else 0.0)
    loss.backward()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss() -> int:
    """Reset this process's peak RSS (VmHWM) to its current RSS; return that RSS in bytes."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kib("VmRSS") * 1024


def measure_memory(case_index: int, impl: str, args: argparse.Namespace) -> float:
    """Peak memory (MiB) of one forward+backward, in a fresh subprocess."""
    cmd = [
        sys.executable,
        __file__,
        "--_memory-child",
        f"{case_index}:{impl}",
        "--batch",
        str(args.batch),
        "--tokens",
        str(args.tokens),
        "--device",
        args.device,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return float("nan")
    return float(res.stdout.strip().splitlines()[-1])


def memory_child(spec: str, args: argparse.Namespace) -> None:
    index, impl = spec.split(":")
    case = cases()[int(index)]
    module = build(case, impl, args.device)
    z = torch.randn(args.batch, args.tokens, case.dim, device=args.device)
    step(module, impl, z)  # lazy init (k-means, buffers) outside the measurement
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step(module, impl, z)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        base = reset_peak_rss()
        step(module, impl, z)
        peak = _status_kib("VmHWM") * 1024 - base
    print(max(peak, 0) / 2**20)


def time_case(case: Case, args: argparse.Namespace, run_ref: bool) -> dict[str, float]:
    impls = ["zoo"] + (["ref"] if run_ref else [])
    modules = {impl: build(case, impl, args.device) for impl in impls}
    z = torch.randn(args.batch, args.tokens, case.dim, device=args.device)
    for _ in range(args.warmup):
        for impl in impls:
            step(modules[impl], impl, z)
    times: dict[str, list[float]] = {impl: [] for impl in impls}
    for _ in range(args.repeats):
        for impl in impls:  # interleaved, so drift in machine load hits both alike
            sync(args.device)
            t0 = time.perf_counter()
            step(modules[impl], impl, z)
            sync(args.device)
            times[impl].append(time.perf_counter() - t0)
    return {impl: statistics.median(ts) * 1e3 for impl, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--max-ref-gib",
        type=float,
        default=12.0,
        help="skip reference runs estimated to need more memory than this",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, no warm-up")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--only", default="", help="substring filter on case names")
    parser.add_argument("--json", default="", help="also write the rows to this JSON file")
    parser.add_argument("--_memory-child", dest="memory_child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args)
        return
    if args.quick:
        args.repeats, args.warmup = 1, 0

    n_tok = args.batch * args.tokens
    print(
        f"# device={args.device} torch={torch.__version__} threads={torch.get_num_threads()} "
        f"B={args.batch} N={args.tokens} repeats={args.repeats}"
    )
    header = (
        "| case | zoo ms | ref ms | speed-up | zoo peak MiB | ref peak MiB | memory ratio |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    )
    print(header)
    rows = []
    for i, case in enumerate(cases()):
        if args.only and args.only not in case.name:
            continue
        need_gib = case.ref_bytes_per_token * n_tok / 2**30
        run_ref = case.ref is not None and need_gib <= args.max_ref_gib
        t = time_case(case, args, run_ref)
        mem = {}
        if not args.no_memory:
            mem["zoo"] = measure_memory(i, "zoo", args)
            if run_ref:
                mem["ref"] = measure_memory(i, "ref", args)
        if case.ref is None:
            ref_note = "no counterpart"
        elif not run_ref:
            ref_note = f"not runnable (~{need_gib:.0f} GiB)"
        else:
            ref_note = ""
        row = {
            "case": case.name,
            "zoo_ms": t["zoo"],
            "ref_ms": t.get("ref"),
            "zoo_mib": mem.get("zoo"),
            "ref_mib": mem.get("ref"),
            "ref_note": ref_note,
        }
        rows.append(row)
        speed = f"{t['ref'] / t['zoo']:.2f}x" if "ref" in t else "—"
        mratio = (
            f"{mem['ref'] / mem['zoo']:.1f}x less"
            if mem.get("ref") and mem.get("zoo") and not math.isnan(mem["ref"])
            else "—"
        )
        ref_ms = f"{t['ref']:.1f}" if "ref" in t else ref_note
        zoo_mib = f"{mem['zoo']:.0f}" if "zoo" in mem else "—"
        ref_mib = f"{mem['ref']:.0f}" if "ref" in mem else "—"
        print(
            f"| {case.name} | {t['zoo']:.1f} | {ref_ms} | {speed} "
            f"| {zoo_mib} | {ref_mib} | {mratio} |",
            flush=True,
        )
    if args.json:
        summary = {
            "device": args.device,
            "batch": args.batch,
            "tokens": args.tokens,
            "torch": torch.__version__,
            "rows": rows,
        }
        atomic_write_json(args.json, summary)


if __name__ == "__main__":
    main()
