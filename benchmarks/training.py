"""Training throughput per recipe: the ``TokenizerModule`` step under a Lightning ``Trainer``
against a bare PyTorch loop of the same model, losses and optimiser; the data pipeline alone;
and where the time goes (the top ops of a profiled step).

For each recipe (its ``model:`` section and data module, from the YAML):

* **step**: one real batch of the recipe's data, fed again and again (so data loading is out of
  both timings). *module*: ``Trainer.fit`` over that batch (the recipe's logging interval, a CSV
  logger, no checkpoints or validation), the time between consecutive ``on_train_batch_end``.
  *bare*: the same objects (tokenizer, criterion, discriminator, AdamW + schedule, EMA) in a plain
  loop: forward, losses, backward, clip, step, schedule, EMA (the discriminator step too when it
  is active from step 0). Rounds alternate module / bare (same process, same allocator); the
  median step of each. Overhead = module / bare - 1.
* **variants of the bare loop** (``--variants``), each undoing one default of the module:
  ``foreach`` (AdamW's multi-tensor kernel instead of the fused one) and ``contiguous`` (image
  models and batches in the default memory format instead of channels-last); the ratio is the
  variant's step time over the default's, so above 1 the default is faster.
* **data**: the recipe's data module alone with ``--workers`` workers: batches per second after
  the first batch (worker start-up excluded), against the steps per second of the module:
  the pipeline is not the bottleneck when that ratio is above 1.
* **profile**: ``torch.profiler`` over ``--profile-steps`` bare steps: the 10 ops with the most
  self CPU time.

Throughput: images/s (image recipes) or seconds of audio per second (audio recipes).

    python benchmarks/training.py --json results/training.json --markdown results/training.md
    python benchmarks/training.py --recipes configs/image/vqgan_cpu_f8_recon.yaml --steps 5

Recipes whose data folders are missing are measured on bundled real data instead (scikit-image
photos, the audio fixtures), said so in the table; build the real sets with
``python -m zoo.data.photos build/cache`` and ``python -m zoo.data.audio_corpus build``.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import yaml
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, Dataset

import zoo
from zoo._io import atomic_write_text
from zoo.quantizers import collect_metrics
from zoo.training import AudioDataModule, ImageDataModule, TokenizerModule
from zoo.training.ema import ema_decay_at, ema_update_
from zoo.training.optim import WarmupCosine, param_groups

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECIPES = [
    "configs/image/vqgan_cpu_f8_recon.yaml",
    "configs/image/titok_cpu_flex128.yaml",
    "configs/image/titok_cpu_latent128.yaml",
    "configs/image/vqgan_cpu_f8.yaml",
    "configs/audio/seanet_cpu_16khz.yaml",
]
#: 1D stages trained on latent caches -> the 2D tokenizer whose grids they read (a stand-in
#: cache of the bundled photos is encoded with it when the recipe's cache is missing).
LATENT_SOURCES = {"titok_cpu_latent16": "vqgan_cpu_f8.photos"}
FIXTURE_AUDIO = ROOT / "tests" / "fixtures" / "audio"


# --------------------------------------------------------------------------- recipe -> objects
def load_recipe(path: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / path).read_text())


def build_datamodule(cfg: dict[str, Any], workers: int, tmp: Path) -> tuple[Any, str]:
    """The recipe's data module (``workers`` workers); bundled real data when its folders are
    missing. Returns the module and a note on which data it reads."""
    data = cfg["data"]
    cls = {"ImageDataModule": ImageDataModule, "AudioDataModule": AudioDataModule}[
        data["class_path"].rsplit(".", 1)[1]
    ]
    args = dict(data.get("init_args", {}), num_workers=workers)
    if cls is ImageDataModule:
        cache = args.get("train_cache")
        if cache and Path(cache).is_file():
            return cls(**args), f"crop cache {cache}"
        photos = tmp / "photos"
        if not photos.is_dir():
            import skimage.data
            from PIL import Image

            photos.mkdir(parents=True)
            d = skimage.data
            for i, img in enumerate([d.astronaut(), d.chelsea(), d.coffee(), d.rocket()]):
                Image.fromarray(img).save(photos / f"{i}.png")
        pixel = LATENT_SOURCES.get(cfg["model"]["tokenizer"])
        if pixel is not None:
            latents = tmp / "latents.safetensors"
            if not latents.is_file():
                from zoo.data.latents import build_folder_latent_cache

                build_folder_latent_cache(zoo.load(pixel), photos, latents, crop_size=128,
                                          short_side=256, crops_per_image=16,
                                          progress=False)  # fmt: skip
            args.update(train_cache=str(latents), val_cache=str(latents))
            return cls(**args), f"{pixel} latents of scikit-image photos (recipe's cache missing)"
        args.update(train_cache=None, train_dir=str(photos), val_dir=str(photos))
        return cls(**args), "scikit-image photos (recipe's crop cache missing)"
    train = args.get("train_dir")
    if train and Path(train).is_dir():
        return cls(**args), f"audio folder {train}"
    # 11 short recordings: more clips per second of audio so that a batch fills.
    args.update(train_dir=str(FIXTURE_AUDIO), val_dir=str(FIXTURE_AUDIO), clips_per_second=20.0)
    return cls(**args), "tests/fixtures/audio (recipe's audio folder missing)"


def one_batch(dm: Any) -> torch.Tensor:
    dm.setup("fit")
    loader = dm.train_dataloader()
    batch = next(iter(loader))
    return batch[0] if isinstance(batch, list | tuple) else batch


class _Repeat(Dataset):
    def __init__(self, batch: torch.Tensor, n: int) -> None:
        self.batch, self.n = batch, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.batch


class _StepTimes(Callback):
    """Step end times; each step starts from the global RNG seeded with its index, as in
    :func:`time_bare`, so both loops draw the same random choices per step (a flexible-length
    tokenizer's token count decides most of its step time)."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(batch_idx)

    def on_train_batch_end(self, *args: Any) -> None:
        self.ends.append(time.perf_counter())


# --------------------------------------------------------------------------- the two loops
def time_module(
    module: TokenizerModule, batch: torch.Tensor, steps: int, log_every: int
) -> list[float]:
    """Per-step seconds of ``steps`` module steps under a Trainer (first step excluded)."""
    times = _StepTimes()
    with tempfile.TemporaryDirectory() as logs:
        trainer = pl.Trainer(
            accelerator="cpu", devices=1, max_steps=-1, max_epochs=1,
            logger=CSVLogger(logs), log_every_n_steps=log_every, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
            limit_val_batches=0, callbacks=[times], default_root_dir=logs,
        )  # fmt: skip
        # batch_size=None: the dataset item is the whole batch.
        loader = DataLoader(_Repeat(batch, steps + 1), batch_size=None)
        trainer.fit(module, train_dataloaders=loader)
    return [b - a for a, b in zip(times.ends, times.ends[1:], strict=False)]


class BareLoop:
    """The module's training step in plain PyTorch, over the module's own objects."""

    def __init__(self, module: TokenizerModule, *, fused: bool, contiguous: bool) -> None:
        self.m = module
        self.fmt = None if contiguous else module.modality.memory_format
        spec = module.specs["optimizer"]
        kw = {"fused": True} if fused else {"foreach": True}
        self.opt_g = torch.optim.AdamW(
            param_groups(module.tokenizer, spec.weight_decay), lr=spec.lr, betas=spec.betas, **kw
        )
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt_g, WarmupCosine(spec.warmup_steps, None, spec.min_lr_ratio)
        )
        self.opt_d = None
        if module.adversary is not None:
            self.opt_d = torch.optim.AdamW(
                param_groups(module.discriminator, spec.weight_decay), lr=spec.lr, betas=spec.betas,
                **kw,
            )  # fmt: skip
        self.steps = 0
        # TokenizerModule put the tokenizer in its modality's memory format; undo it if asked.
        if contiguous:
            module.tokenizer.to(memory_format=torch.contiguous_format)

    def step(self, x: torch.Tensor) -> None:
        m, adv = self.m, self.m.adversary
        if self.fmt is not None and x.ndim == 4:
            x = x.contiguous(memory_format=self.fmt)
        with collect_metrics(False):
            out = m.tokenizer(x)
        losses = m.criterion(out.reconstruction, x)
        loss = losses["nll"] + m.specs["criterion"].quantizer_weight * out.quantizer.loss
        active = adv is not None and self.steps >= adv.spec.start
        if active:
            m.discriminator.requires_grad_(False)  # as Lightning's toggle_optimizer does
            g_loss, _ = adv.generator_term(m.tokenizer, x, out.reconstruction, losses["nll"])
            loss = loss + g_loss
        self._update(self.opt_g, m.tokenizer, loss)
        self.sched.step()
        if active:
            d_loss, _ = adv.discriminator_loss(x, out.reconstruction)
            m.discriminator.requires_grad_(True)
            self._update(self.opt_d, m.discriminator, d_loss)
        self.steps += 1
        if m.ema_tokenizer is not None:
            decay = ema_decay_at(m.specs["ema"].decay, self.steps - 1)
            ema_update_(m.ema_tokenizer, m.tokenizer, decay)
        # The module logs these every step; read them as it does.
        float(loss.detach())

    def _update(self, opt: torch.optim.Optimizer, params: torch.nn.Module, loss: torch.Tensor):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip := self.m.specs["optimizer"].grad_clip:
            torch.nn.utils.clip_grad_norm_(params.parameters(), clip)
        opt.step()


def time_bare(loop: BareLoop, batch: torch.Tensor, steps: int) -> list[float]:
    """Per-step seconds of ``steps`` bare steps after a warm-up; step ``i`` (warm-up: 0) starts
    from the global RNG seeded with ``i``, as the module's steps do (see ``_StepTimes``)."""
    torch.manual_seed(0)
    loop.step(batch)  # warm-up
    out = []
    for i in range(1, steps + 1):
        torch.manual_seed(i)
        t = time.perf_counter()
        loop.step(batch)
        out.append(time.perf_counter() - t)
    return out


def profile_top_ops(loop: BareLoop, batch: torch.Tensor, steps: int) -> list[dict[str, Any]]:
    from torch.profiler import ProfilerActivity, profile

    loop.step(batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            loop.step(batch)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [
        {
            "op": e.key,
            "self_ms_per_step": e.self_cpu_time_total / 1000 / steps,
            "share": e.self_cpu_time_total / total,
            "calls_per_step": e.count / steps,
        }
        for e in events[:10]
    ]


def data_rate(dm: Any, batches: int) -> float:
    """Batches per second of the data module alone, after its first batch."""
    dm.setup("fit")
    it = iter(dm.train_dataloader())
    next(it)
    t, n = time.perf_counter(), 0
    for _ in range(batches):
        try:
            next(it)
        except StopIteration:
            break
        n += 1
    return n / (time.perf_counter() - t)


# --------------------------------------------------------------------------- one recipe
def fresh_module(cfg: dict[str, Any], seed: int = 0) -> TokenizerModule:
    torch.manual_seed(seed)
    return TokenizerModule(**copy.deepcopy(cfg["model"]))


def bench_recipe(path: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    cfg = load_recipe(path)
    dm, data_note = build_datamodule(cfg, 0, tmp)
    batch = one_batch(dm)
    log_every = int(cfg.get("trainer", {}).get("log_every_n_steps", 50))
    module = fresh_module(cfg)
    modality = module.modality.name
    per_item = batch.shape[-1] / module.tokenizer.sample_rate if modality == "audio" else 1.0
    unit = "audio s/s" if modality == "audio" else "images/s"
    module_times: list[float] = []
    bare_times: list[float] = []
    fused = module.specs["optimizer"].fused
    loop = BareLoop(fresh_module(cfg), fused=fused, contiguous=False)
    for _ in range(args.rounds):
        module_times += time_module(module, batch, args.steps, log_every)
        bare_times += time_bare(loop, batch, args.steps)
    module_s, bare_s = statistics.median(module_times), statistics.median(bare_times)
    row: dict[str, Any] = {
        "recipe": path,
        "tokenizer": cfg["model"]["tokenizer"],
        "modality": modality,
        "batch_shape": list(batch.shape),
        "data": data_note,
        "unit": unit,
        "module_step_s": module_s,
        "bare_step_s": bare_s,
        "overhead": module_s / bare_s - 1.0,
        "module_throughput": batch.shape[0] * per_item / module_s,
        "bare_throughput": batch.shape[0] * per_item / bare_s,
        "adversarial_from_step_0": module.adversary is not None
        and module.adversary.spec.start == 0,
        "variants": {},
    }
    for variant in args.variants:
        if variant == "contiguous" and (batch.ndim != 4 or module.modality.memory_format is None):
            continue
        v = BareLoop(
            fresh_module(cfg),
            fused=fused and variant != "foreach",
            contiguous=variant == "contiguous",
        )
        base = BareLoop(fresh_module(cfg), fused=fused, contiguous=False)
        vt, bt = [], []
        for _ in range(args.rounds):
            vt += time_bare(v, batch, args.steps)
            bt += time_bare(base, batch, args.steps)
        row["variants"][variant] = statistics.median(vt) / statistics.median(bt)
    row["profile"] = profile_top_ops(loop, batch, args.profile_steps)
    dm_workers, _ = build_datamodule(cfg, args.workers, tmp)
    rate = data_rate(dm_workers, args.data_batches)
    row["data_batches_per_s"] = rate
    row["data_over_step_rate"] = rate * module_s
    return row


# --------------------------------------------------------------------------- report
def environment(args: argparse.Namespace) -> dict[str, Any]:
    import lightning

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "allocator": os.environ.get("LD_PRELOAD") or "glibc malloc",
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "load_average": list(os.getloadavg()),
        "command": shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
    }


def markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        "# Training throughput",
        "",
        f"{env['cpu']}, {env['cores']} cores, {env['threads']} threads, {env['allocator']}; "
        f"torch {env['torch']}, lightning {env['lightning']}; load average "
        f"{', '.join(f'{x:.1f}' for x in env['load_average'])}; {env['date']}.",
        "",
        f"`{env['command']}`",
        "",
        "| recipe | batch | module step | bare step | overhead | throughput (module) | "
        "data / step rate | foreach AdamW / fused | contiguous / channels-last |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["recipes"]:
        var = r["variants"]
        fmt = lambda k, var=var: f"{var[k]:.2f}x" if k in var else "—"  # noqa: E731
        lines.append(
            f"| {Path(r['recipe']).stem} | {'x'.join(map(str, r['batch_shape']))} | "
            f"{r['module_step_s'] * 1000:.0f} ms | {r['bare_step_s'] * 1000:.0f} ms | "
            f"{r['overhead'] * 100:+.1f}% | {r['module_throughput']:.1f} {r['unit']} | "
            f"{r['data_over_step_rate']:.1f} | {fmt('foreach')} | {fmt('contiguous')} |"
        )
    lines += [
        "",
        "Overhead: module step / bare step - 1 (Lightning loop, logging, hooks). Data / step "
        "rate: batches per second of the data module alone (its workers) times the module's "
        "seconds per step; above 1 the pipeline keeps up. Variant columns: bare-loop step time "
        "without one of the module's defaults over with it (above 1: the default is faster).",
        "",
    ]
    for r in results["recipes"]:
        lines += [
            f"## {Path(r['recipe']).stem}: top ops (bare step, self CPU time)",
            "",
            f"Data: {r['data']}.",
            "",
            "| op | ms / step | share | calls / step |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{p['op']}` | {p['self_ms_per_step']:.1f} | {p['share'] * 100:.1f}% | "
            f"{p['calls_per_step']:.0f} |"
            for p in r["profile"]
        ]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", nargs="+", default=DEFAULT_RECIPES)
    p.add_argument("--steps", type=int, default=6, help="timed steps per round and loop")
    p.add_argument("--rounds", type=int, default=2, help="alternating module / bare rounds")
    p.add_argument("--variants", nargs="*", default=["foreach", "contiguous"])
    p.add_argument("--profile-steps", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--data-batches", type=int, default=20)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json")
    p.add_argument("--markdown")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for path in args.recipes:
            rows.append(bench_recipe(path, args, Path(tmp)))
            r = rows[-1]
            print(
                f"{path}: module {r['module_step_s'] * 1000:.0f} ms, bare "
                f"{r['bare_step_s'] * 1000:.0f} ms ({r['overhead'] * 100:+.1f}%), data/step "
                f"{r['data_over_step_rate']:.1f}, variants {r['variants']}",
                flush=True,
            )
    results = {"environment": environment(args), "recipes": rows}
    text = markdown(results)
    print(text)
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")
    if args.markdown:
        atomic_write_text(args.markdown, text + "\n")
    return 0 if all(math.isfinite(r["overhead"]) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
