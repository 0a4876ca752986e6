"""Quantizers side by side with vector-quantize-pytorch: training-step time and peak memory, and
the share of this CPU's GEMM peak reached by the VQ nearest-neighbour search and the LFQ codebook
entropy.

Each case runs the zoo quantizer and its vector-quantize-pytorch counterpart on the same input
(B x N tokens, training mode): forward, then backward of the quantized output with one fixed
random upstream gradient plus the auxiliary loss (weight 1), down to the input. A fixed upstream
gradient times the quantizer alone; a loss such as ``quantized.square().sum()`` would add the same
few element-wise passes to both sides. Timing: the implementations alternate in this one process
(same allocator, same load), median of ``--repeats`` steps after ``--warmup``; in fast cases
each timed step follows an untimed one of the same implementation (a ~1 ms step timed right
after another implementation's step can pay several ms for the heap pages and caches it left
behind); cases whose slowest warm-up step exceeds ``--slow-seconds`` take ``--slow-repeats``
timed steps and no untimed ones. The zoo is timed twice:
as a training step runs by default (no logging statistics), and inside
``zoo.quantizers.collect_metrics()`` (codebook usage and perplexity computed on every call, what
every forward did before they became opt-in) — the "metrics on" column, a same-run "before".
Ratios are zoo time / reference time: below 1 the zoo is faster.

Peak memory: each implementation once more in a fresh subprocess, after one untimed step: peak
RSS growth during one step on CPU (VmHWM reset through /proc/self/clear_refs), or
``torch.cuda.max_memory_allocated`` on GPU. Cases whose reference would need more memory than
``--max-ref-gib`` (it materialises 2^d probabilities per token) are reported as not runnable.

GEMM share (``--gemm-threads``, CPU): for each thread count, the faster of two products of
4096 x 4096 float32 matrices gives the peak: ``torch.mm`` (MKL) and oneDNN's GEMM with a
prepacked operand (on AMD processors MKL runs its AVX2 code and oneDNN is about twice as fast);
against it, the VQ nearest-neighbour search
(``VQ._nearest``, B x N tokens of width 256, 1024 and 16 384 codes; 2 N K d flops) and the LFQ
d14 exact codebook entropy, forward + backward (three GEMMs of 2 N 2^14 flops in the factorised
form; the same count is charged to any implementation). The measurements alternate with the
peak's, median of ``--gemm-repeats``.

Results: a Markdown table on stdout; ``--json`` / ``--markdown`` also write them with the machine
(CPU, cores, L2), threads, allocator, versions, load average and the command.

``--before-package NAME`` times an earlier version of the quantizers in the same run, as a third
implementation alternating with the others (and in the GEMM table): a copy of that version's
``zoo/outputs.py`` and ``zoo/quantizers/`` importable as ``NAME``, e.g.

    BEFORE=$(mktemp -d)   # any scratch folder
    git archive REV zoo/outputs.py zoo/quantizers | tar -x -C "$BEFORE"
    mv "$BEFORE/zoo" "$BEFORE/zoo_before" && touch "$BEFORE/zoo_before/__init__.py"
    sed -i -E 's/\\bzoo\\./zoo_before./g' "$BEFORE"/zoo_before/*.py "$BEFORE"/zoo_before/*/*.py
    PYTHONPATH="$BEFORE" python benchmarks/quantizers.py --before-package zoo_before ...

Examples:

    python benchmarks/quantizers.py --threads 1 --json results/quantizers.json \\
        --markdown results/quantizers.md          # full table (B=16, N=1024)
    python benchmarks/quantizers.py --tokens 64 --quick  # smoke run
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch
from _machine import cpu_name, write_report

from zoo.layers import prepacked
from zoo.quantizers import create_quantizer

try:
    from zoo.quantizers import collect_metrics
except ImportError:  # code from before statistics were opt-in: every forward computes them
    collect_metrics = None

ROOT = Path(__file__).resolve().parents[1]
#: ``<package>.quantizers`` of an earlier zoo (``--before-package``), timed as "before".
BEFORE = None


@dataclass
class Case:
    name: str
    dim: int
    ours: dict
    #: (vector_quantize_pytorch class name, kwargs, index of the aux loss in its output or None)
    ref: tuple[str, dict, int | None] | None
    #: Estimated bytes per token the reference materialises (to refuse impossible runs).
    ref_bytes_per_token: int = 0
    note: str = ""
    tags: list[str] = field(default_factory=list)


def cases() -> list[Case]:
    vq_ref = {"decay": 0.99, "commitment_weight": 0.25, "rotation_trick": False}
    vq_ours = {"ema": 0.99, "commitment_weight": 0.25}
    lfq_ref = {"entropy_loss_weight": 0.1, "commitment_loss_weight": 0.25}
    lfq_ours = {"entropy_loss_weight": 0.1, "commitment_weight": 0.25}
    out = [
        Case(
            "VQ d256 K1024 (EMA)",
            256,
            {"name": "vq", "dim": 256, "codebook_size": 1024, **vq_ours},
            ("VectorQuantize", {"dim": 256, "codebook_size": 1024, **vq_ref}, 2),
        ),
        Case(
            "VQ d256 K16384 (EMA)",
            256,
            {"name": "vq", "dim": 256, "codebook_size": 16384, **vq_ours},
            ("VectorQuantize", {"dim": 256, "codebook_size": 16384, **vq_ref}, 2),
            ref_bytes_per_token=16384 * 4 * 3,
        ),
        Case(
            "SimVQ d256 K1024",
            256,
            {
                "name": "vq",
                "dim": 256,
                "codebook_size": 1024,
                "simvq": True,
                "rotation_trick": True,
                "commitment_weight": 0.25,
            },
            ("SimVQ", {"dim": 256, "codebook_size": 1024, "rotation_trick": True}, 2),
            note="both: frozen codebook C, learned linear W, rotation trick",
        ),
        Case(
            "RVQ 8 x K1024 d256 (EMA)",
            256,
            {
                "name": "residual",
                "quantizer": "vq",
                "num_quantizers": 8,
                "quantizer_kwargs": {"dim": 256, "codebook_size": 1024, **vq_ours},
            },
            ("ResidualVQ", {"dim": 256, "num_quantizers": 8, "codebook_size": 1024, **vq_ref}, 2),
        ),
        Case(
            "FSQ [8,8,8,5,5,5]",
            6,
            {"name": "fsq", "levels": [8, 8, 8, 5, 5, 5]},
            ("FSQ", {"levels": [8, 8, 8, 5, 5, 5]}, None),
        ),
        Case(
            "RFSQ 4 x [8,5,5,5]",
            4,
            {
                "name": "residual",
                "quantizer": "fsq",
                "num_quantizers": 4,
                "quantizer_kwargs": {"levels": [8, 5, 5, 5]},
                "scales": [1.0, 0.2, 0.04, 0.008],
            },
            ("ResidualFSQ", {"levels": [8, 5, 5, 5], "num_quantizers": 4}, None),
            note="ref: symmetry-preserving FSQ levels with per-channel scales L^-i; "
            "zoo: FSQ levels with scales 5^-i",
        ),
        Case(
            "LFQ d14 + exact entropy",
            14,
            {"name": "lfq", "dim": 14, "entropy_mode": "exact", **lfq_ours},
            ("LFQ", {"dim": 14, "codebook_size": 2**14, **lfq_ref}, 2),
            ref_bytes_per_token=(2**14) * 4 * 4,
        ),
        Case(
            "BSQ d14 + exact entropy",
            14,
            {"name": "bsq", "dim": 14, "entropy_mode": "exact", "temperature": 0.01, **lfq_ours},
            ("LFQ", {"dim": 14, "codebook_size": 2**14, "spherical": True, **lfq_ref}, 2),
            ref_bytes_per_token=(2**14) * 4 * 4,
            note="ref: LFQ(spherical=True); both at temperature 0.01",
        ),
        Case(
            "RLFQ 4 x d10 + entropy",
            10,
            {
                "name": "residual",
                "quantizer": "lfq",
                "num_quantizers": 4,
                "quantizer_kwargs": {"dim": 10, **lfq_ours},
                "scales": [1.0, 0.5, 0.25, 0.125],
            },
            (
                "ResidualLFQ",
                {"dim": 10, "codebook_size": 2**10, "num_quantizers": 4, **lfq_ref},
                2,
            ),
            ref_bytes_per_token=4 * (2**10) * 4 * 4,
            note="ref: codebook scale 2^-i per level; zoo: residual scales 2^-i",
        ),
    ]
    for name, d in (("LFQ", 18), ("BSQ", 18), ("LFQ", 32), ("LFQ", 128), ("BSQ", 128)):
        ours = {"name": name.lower(), "dim": d, **lfq_ours}
        ref = None
        if d <= 18:
            ref_kw = {"dim": d, "codebook_size": 2**d, **lfq_ref}
            if name == "BSQ":
                ref_kw["spherical"] = True
                ours["temperature"] = 0.01
            ref = ("LFQ", ref_kw, 2)
        groups = d // max(g for g in range(1, 17) if d % g == 0)
        note = f"zoo: exact entropy within {groups} groups of {d // groups} bits"
        out.append(
            Case(
                f"{name} d{d} + entropy",
                d,
                ours,
                ref,
                ref_bytes_per_token=(2**d) * 4 * 4,
                note=note,
            )
        )
    return out


# ---------------------------------------------------------------------------- one step
def build(case: Case, impl: str, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if impl in ("zoo", "before"):
        kw = dict(case.ours)
        create = create_quantizer if impl == "zoo" else BEFORE.create_quantizer
        return create(kw.pop("name"), **kw).to(device).train()
    import vector_quantize_pytorch as vqp

    cls_name, kw, _ = case.ref
    return getattr(vqp, cls_name)(**kw).to(device).train()


def step(
    case: Case, module: torch.nn.Module, impl: str, z: torch.Tensor, grad: torch.Tensor
) -> None:
    """Forward, then backward of ``(quantized, aux loss)`` with ``(grad, 1)`` to the input."""
    x = z.detach().requires_grad_(True)
    if impl == "ref":
        res = module(x)
        loss_at = case.ref[2]
        quantized, loss = res[0], (res[loss_at] if loss_at is not None else None)
    else:
        context = collect_metrics() if impl == "zoo+metrics" and collect_metrics else nullcontext()
        with context:
            out = module(x)
        quantized, loss = out.quantized, out.loss
    tensors, grads = [quantized], [grad]
    if loss is not None and loss.requires_grad:
        tensors.append(loss.sum())
        grads.append(torch.ones((), device=x.device))
    torch.autograd.backward(tensors, grads)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def inputs(case: Case, args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(args.batch, args.tokens, case.dim, generator=g)
    grad = torch.randn(args.batch, args.tokens, case.dim, generator=g)
    return z.to(args.device), grad.to(args.device)


# ---------------------------------------------------------------------------- memory
def _status_kib(name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{name} not in /proc/self/status")


def reset_peak_rss() -> int:
    """Reset this process's peak RSS (VmHWM) to its current RSS; return that RSS in bytes."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kib("VmRSS") * 1024


def measure_memory(case_index: int, impl: str, args: argparse.Namespace) -> float:
    """Peak memory (MiB) of one forward+backward, in a fresh subprocess of this Python."""
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
        "--threads",
        str(args.threads),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return float("nan")
    return float(res.stdout.strip().splitlines()[-1])


def memory_child(spec: str, args: argparse.Namespace) -> None:
    index, impl = spec.split(":")
    case = cases()[int(index)]
    module = build(case, impl, args.device)
    z, grad = inputs(case, args)
    step(case, module, impl, z, grad)  # lazy init (k-means, buffers) outside the measurement
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step(case, module, impl, z, grad)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        base = reset_peak_rss()
        step(case, module, impl, z, grad)
        peak = _status_kib("VmHWM") * 1024 - base
    print(max(peak, 0) / 2**20)


# ---------------------------------------------------------------------------- timing
def time_case(case: Case, args: argparse.Namespace, run_ref: bool) -> dict:
    impls = ["zoo"]
    if not args.no_metrics_column and collect_metrics is not None:
        impls.append("zoo+metrics")
    if BEFORE is not None and not any(s in case.name for s in args.before_skip):
        impls.append("before")
    if run_ref:
        impls.append("ref")
    modules = {impl: build(case, impl, args.device) for impl in impls if impl != "zoo+metrics"}
    modules["zoo+metrics"] = modules["zoo"]  # the same quantizer, asked for its statistics
    z, grad = inputs(case, args)
    slowest = 0.0
    out: dict = {}
    for _ in range(max(1, args.warmup)):
        for impl in list(impls):
            sync(args.device)
            t0 = time.perf_counter()
            step(case, modules[impl], impl, z, grad)
            sync(args.device)
            seconds = time.perf_counter() - t0
            if impl == "before" and seconds > args.before_max_seconds:
                impls.remove(impl)  # too slow to repeat: one step reported as is
                out["before_note"] = f"one step: {seconds:.0f} s"
                continue
            slowest = max(slowest, seconds)
    fast = slowest <= args.slow_seconds
    repeats = args.repeats if fast else min(args.repeats, args.slow_repeats)
    times: dict[str, list[float]] = {impl: [] for impl in impls}
    for _ in range(repeats):
        for impl in impls:  # interleaved, so drift in machine load hits all alike
            if fast:  # an untimed step first: the timed one must not pay for the previous
                step(case, modules[impl], impl, z, grad)  # implementation's heap and caches
            sync(args.device)
            t0 = time.perf_counter()
            step(case, modules[impl], impl, z, grad)
            sync(args.device)
            times[impl].append(time.perf_counter() - t0)
    out.update({f"{impl}_ms": statistics.median(ts) * 1e3 for impl, ts in times.items()})
    out["repeats"] = repeats
    return out


# ---------------------------------------------------------------------------- GEMM share
def _median_time(fn, repeats: int) -> float:
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def gemm_share(args: argparse.Namespace) -> list[dict]:
    """Plain-mm peak vs the VQ nearest-neighbour search and the LFQ d14 codebook entropy, of
    this zoo and, with ``--before-package``, of the earlier one (one row per code and threads)."""
    from zoo.quantizers._binary import codebook_entropy

    n = args.batch * args.tokens
    g = torch.Generator().manual_seed(2)
    a = torch.randn(4096, 4096, generator=g)
    b = torch.randn(4096, 4096, generator=g)
    x = torch.randn(n, 256, generator=g)
    logits = (torch.randn(n, 14, generator=g) * 400).requires_grad_(True)  # T = 0.01
    codes = {"zoo": (create_quantizer, codebook_entropy)}
    if BEFORE is not None:
        codes["before"] = (
            BEFORE.create_quantizer,
            importlib.import_module(BEFORE.__name__ + "._binary").codebook_entropy,
        )
    # The peak: the faster of the two fp32 GEMMs in this PyTorch, MKL's (torch.mm) and oneDNN's
    # with a prepacked operand. On AMD processors MKL takes its AVX2 path, so oneDNN is ~2x.
    work = {"peak_mkl": (lambda: torch.mm(a, b), 2 * 4096**3)}
    if prepacked.AVAILABLE:
        b_packed = torch.ops.mkldnn._reorder_linear_weight(b.t().contiguous(), 4096)
        work["peak_onednn"] = (
            lambda: torch.ops.mkldnn._linear_pointwise(a, b_packed, None, "none", [], ""),
            2 * 4096**3,
        )
    for code, (create, entropy) in codes.items():
        for k in (1024, 16384):
            torch.manual_seed(0)
            q = create("vq", dim=256, codebook_size=k)
            cb = q.codebook.detach().clone()
            work[f"{code}:vq_nearest_k{k}"] = (
                lambda q=q, cb=cb: q._nearest(x, cb),
                2 * n * k * 256,
            )
        work[f"{code}:lfq_d14_entropy"] = (
            lambda entropy=entropy: entropy(logits, 14).backward(),
            3 * 2 * n * 2**14,
        )
    rows = []
    previous = torch.get_num_threads()
    try:
        for threads in args.gemm_threads:
            torch.set_num_threads(threads)
            times = {name: [] for name in work}
            for fn, _ in work.values():
                fn()  # warm-up
            for _ in range(args.gemm_repeats):
                for name, (fn, _) in work.items():  # alternating with the peak
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
            result = {}
            for name, (_, flops) in work.items():
                seconds = statistics.median(times[name])
                result[name] = (seconds * 1e3, flops / seconds / 1e9)
            peaks = {name.split("_", 1)[1]: result.pop(name) for name in list(result)
                     if name.startswith("peak_")}  # fmt: skip
            peak_gemm = max(peaks, key=lambda g: peaks[g][1])
            peak = peaks[peak_gemm]
            for code in codes:
                row = {"threads": threads, "code": code, "peak_ms": peak[0], "peak_gflops": peak[1],
                       "peak_gemm": peak_gemm}  # fmt: skip
                row |= {f"peak_{g}_gflops": v[1] for g, v in peaks.items()}
                for name, (ms, gflops) in result.items():
                    if name.startswith(code + ":"):
                        key = name.split(":", 1)[1]
                        row[f"{key}_ms"], row[f"{key}_gflops"] = ms, gflops
                        row[f"{key}_share"] = gflops / peak[1]
                rows.append(row)
                print(
                    f"# {code}, threads={threads}: peak {peak[1]:.0f} GFLOP/s; "
                    + "; ".join(
                        f"{key} {row[f'{key}_gflops']:.0f} GFLOP/s "
                        f"({100 * row[f'{key}_share']:.0f}%)"
                        for key in GEMM_KEYS
                    ),
                    flush=True,
                )
    finally:
        torch.set_num_threads(previous)
    return rows


GEMM_KEYS = ("vq_nearest_k1024", "vq_nearest_k16384", "lfq_d14_entropy")


# ---------------------------------------------------------------------------- environment


def _l2_cache() -> str | None:
    try:
        return Path("/sys/devices/system/cpu/cpu0/cache/index2/size").read_text().strip()
    except OSError:
        return None


def _allocator() -> str:
    """The malloc this process uses: a preloaded jemalloc / tcmalloc / mimalloc, else glibc."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        maps = ""
    for name in ("jemalloc", "tcmalloc", "mimalloc"):
        if f"lib{name}" in maps:
            return name
    libc, version = platform.libc_ver()
    return f"{libc or 'libc'} {version} malloc".strip()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _mkl() -> str | None:
    for line in torch.__config__.show().splitlines():
        if "Math Kernel Library Version" in line:
            return line.split("Version", 1)[1].split("Product")[0].strip(" -")
    return None


def _zoo_commit() -> str | None:
    """The checked-out commit of this repository, read from .git (no git program)."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        pass
    return None


def environment(args: argparse.Namespace) -> dict:
    import zoo

    source = Path(zoo.__file__).resolve().parent
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python " + shlex.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "device": args.device,
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "l2_cache_per_core": _l2_cache(),
        "threads": torch.get_num_threads(),
        "parallel_backend": torch.__config__.parallel_info().splitlines()[-1].split(":")[-1].strip()
        + " intra-op threads",
        "allocator": _allocator(),
        "ld_preload": os.environ.get("LD_PRELOAD") or None,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "mkl": _mkl(),
        "vector_quantize_pytorch": _version("vector-quantize-pytorch"),
        # Relative to the checkout when it is this one (no machine paths in result files).
        "zoo_source": str(source.relative_to(ROOT)) if source.is_relative_to(ROOT) else str(source),
        "zoo_commit": _zoo_commit() if source == ROOT / "zoo" else None,
        "label": args.label,
        "statistics_opt_in": collect_metrics is not None,
        "before": args.before_package or None,
        "before_source": (
            # Its folder name only: the copy lives in a scratch folder of the machine.
            Path(BEFORE.__file__).resolve().parents[1].name if BEFORE is not None else None
        ),
        "batch": args.batch,
        "tokens": args.tokens,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "slow_repeats": args.slow_repeats,
    }


# ---------------------------------------------------------------------------- report
def _fmt(value: float | None, spec: str = ".1f", empty: str = "—") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return empty
    return format(value, spec)


def _zoo_label(env: dict) -> str:
    where = f"commit {env['zoo_commit'][:10]}" if env.get("zoo_commit") else env["zoo_source"]
    return f"{where} ({env['label']})" if env.get("label") else where


def markdown(results: dict) -> str:
    env = results["environment"]
    before = env.get("before") is not None
    head = "| case | zoo ms | ref ms | zoo / ref |"
    rule = "|---|---:|---:|---:|"
    if before:
        head += " before ms | before / ref |"
        rule += "---:|---:|"
    head += " zoo ms, metrics on | metrics on / ref | zoo MiB | ref MiB | note |"
    rule += "---:|---:|---:|---:|---|"
    lines = [head, rule]
    for r in results["rows"]:
        ref_ms = _fmt(r.get("ref_ms")) if r.get("ref_ms") else r["ref_note"]
        cells = [r["case"], _fmt(r["zoo_ms"]), ref_ms, _fmt(r.get("ratio"), ".2f")]
        if before:
            cells += [
                r.get("before_note") or _fmt(r.get("before_ms")),
                _fmt(r["ratio_before"], ".2f"),
            ]
        cells += [
            _fmt(r.get("zoo+metrics_ms")),
            _fmt(r.get("ratio_metrics"), ".2f"),
            _fmt(r.get("zoo_mib"), ".0f"),
            _fmt(r.get("ref_mib"), ".0f"),
            r["note"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if results.get("gemm"):
        text += (
            "\n| threads | code | GEMM peak (MKL mm / oneDNN) | VQ search, K=1024 "
            "| VQ search, K=16384 | LFQ d14 entropy, fwd + bwd |\n|---:|---|---:|---:|---:|---:|\n"
        )
        for g in results["gemm"]:
            mkl, dnn = g.get("peak_mkl_gflops"), g.get("peak_onednn_gflops")
            split = f" ({mkl:.0f} / {dnn:.0f})" if mkl and dnn else ""
            cells = [str(g["threads"]), g["code"], f"{g['peak_gflops']:.0f} GFLOP/s{split}"]
            for key in GEMM_KEYS:
                cells.append(
                    f"{g[f'{key}_gflops']:.0f} GFLOP/s = {100 * g[f'{key}_share']:.0f}% "
                    f"({g[f'{key}_ms']:.0f} ms)"
                )
            text += "| " + " | ".join(cells) + " |\n"
    load = ", ".join(f"{v:.1f}" for v in results["load_average_start"])
    load_end = ", ".join(f"{v:.1f}" for v in results["load_average_end"])
    text += (
        f"\n`{env['command']}` — {env['device']}, {env['cpu']} ({env['cores']} cores, L2 "
        f"{env['l2_cache_per_core']} per core), {env['threads']} thread(s), "
        f"{env['parallel_backend']}, "
        f"allocator {env['allocator']}, Python {env['python']}, torch {env['torch']}, MKL "
        f"{env['mkl']}, vector-quantize-pytorch {env['vector_quantize_pytorch']}, zoo "
        f"{_zoo_label(env)}. B={env['batch']} x N={env['tokens']} tokens, "
        f"median of {env['repeats']} steps after {env['warmup']} warm-up(s) "
        f"({env['slow_repeats']} for slow cases), {env['date_utc']}. Load average (1, 5, 15 min) "
        f"at start {load}, at end {load_end}.\n"
    )
    if before:
        text += (
            f'\n"before": `{env["before"]}` (an earlier copy of zoo.quantizers), timed in the '
            "same run.\n"
        )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--slow-repeats", type=int, default=3)
    parser.add_argument(
        "--slow-seconds", type=float, default=2.0, help="a warm-up step slower than this: slow"
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--max-ref-gib",
        type=float,
        default=12.0,
        help="skip reference runs estimated to need more memory than this",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, no warm-up")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument(
        "--no-metrics-column", action="store_true", help="do not time the zoo with metrics on"
    )
    parser.add_argument("--only", default="", help="substring filter on case names")
    parser.add_argument("--skip", nargs="*", default=[], help="skip cases containing these")
    parser.add_argument("--label", default="", help="free text recorded with the results")
    parser.add_argument(
        "--gemm-threads", type=int, nargs="*", default=[1, 2], help="thread counts ([] skips)"
    )
    parser.add_argument("--gemm-repeats", type=int, default=5)
    parser.add_argument(
        "--before-package",
        default="",
        help="an earlier zoo's quantizers importable under this name, timed as 'before'",
    )
    parser.add_argument(
        "--before-skip", nargs="*", default=[], help="no 'before' for cases containing these"
    )
    parser.add_argument(
        "--before-max-seconds",
        type=float,
        default=60.0,
        help="a 'before' step slower than this is reported once, not repeated",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--markdown", type=Path, help="also write the Markdown report here")
    parser.add_argument("--_memory-child", dest="memory_child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child, args)
        return
    if args.quick:
        args.repeats, args.warmup, args.gemm_repeats = 1, 0, 1
    global BEFORE
    if args.before_package:
        BEFORE = importlib.import_module(args.before_package + ".quantizers")

    load_start = list(os.getloadavg())
    env = environment(args)
    n_tok = args.batch * args.tokens
    print(
        f"# {env['device']} {env['cpu']} threads={env['threads']} torch={env['torch']} "
        f"B={args.batch} N={args.tokens} repeats={args.repeats} load={load_start[0]:.1f}",
        flush=True,
    )
    gemm = gemm_share(args) if args.gemm_threads and args.device == "cpu" else []
    rows = []
    for i, case in enumerate(cases()):
        if (args.only and args.only not in case.name) or any(s in case.name for s in args.skip):
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
            **t,
            "ratio": t["zoo_ms"] / t["ref_ms"] if "ref_ms" in t else None,
            "ratio_metrics": (
                t["zoo+metrics_ms"] / t["ref_ms"]
                if "ref_ms" in t and "zoo+metrics_ms" in t
                else None
            ),
            "ratio_before": (
                t["before_ms"] / t["ref_ms"] if "ref_ms" in t and "before_ms" in t else None
            ),
            "zoo_mib": mem.get("zoo"),
            "ref_mib": mem.get("ref"),
            "ref_note": ref_note,
            "note": case.note,
        }
        if collect_metrics is None and "ref_ms" in t:  # old code: every forward had metrics on
            row["ratio_metrics"] = row["ratio"]
        rows.append(row)
        print(
            f"| {case.name} | zoo {t['zoo_ms']:.1f} ms | "
            + (
                f"ref {t['ref_ms']:.1f} ms | zoo/ref {row['ratio']:.2f}"
                if "ref_ms" in t
                else ref_note
            )
            + (f" | metrics on {t['zoo+metrics_ms']:.1f} ms" if "zoo+metrics_ms" in t else "")
            + (f" | before {t['before_ms']:.1f} ms" if "before_ms" in t else "")
            + f" | repeats {t['repeats']} |",
            flush=True,
        )
    results = {
        "environment": env,
        "load_average_start": load_start,
        "load_average_end": list(os.getloadavg()),
        "rows": rows,
        "gemm": gemm,
    }
    report = markdown(results)
    write_report(report, results, args.json, args.markdown)


if __name__ == "__main__":
    main()
