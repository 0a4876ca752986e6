"""Helpers shared by the training tests: tiny real photos, tiny model and data arguments."""

import json
from pathlib import Path

import skimage.data
import torch
from lightning.pytorch.callbacks import Callback
from PIL import Image

#: Tiny VQGAN (32 px, f4, 8 x 8 tokens) that trains in milliseconds per step on CPU.
TINY_VQGAN = {"tokenizer": "vqgan_test", "tokenizer_args": {"ch": 8, "z_channels": 8}}


def write_photos(folder: Path, n: int = 4, size: tuple[int, int] = (64, 48)) -> Path:
    """Real photos (scikit-image's bundled CC0 / public-domain images), downsized."""
    folder.mkdir(parents=True, exist_ok=True)
    d = skimage.data
    arrays = [d.astronaut(), d.chelsea(), d.coffee(), d.rocket(), d.retina(), d.hubble_deep_field()]
    for i in range(n):
        Image.fromarray(arrays[i % len(arrays)]).resize(size).save(folder / f"photo{i}.png")
    return folder


def data_args(photo_dir: Path, **overrides):
    """ImageDataModule arguments for 32 px crops of ``photo_dir``: 8 crops -> 4 batches of 2."""
    args = dict(
        train_dir=str(photo_dir),
        val_dir=str(photo_dir),
        crop_size=32,
        min_short_side=32,
        max_short_side=48,
        crops_per_image=2,
        val_crops_per_image=1,
        batch_size=2,
        min_gradient_energy=0.0,
    )
    args.update(overrides)
    return args


class RankSyncCheck(Callback):
    """At the end of training, gather per-rank weight checksums; rank 0 writes them as JSON.

    Used by the multi-process DDP test (the callback runs inside the spawned ranks).
    """

    def __init__(self, out_path: str) -> None:
        self.out_path = out_path

    def on_train_end(self, trainer, pl_module) -> None:
        sums = {}
        for name in ("tokenizer", "ema_tokenizer", "discriminator"):
            module = getattr(pl_module, name)
            sums[name] = float(sum(p.detach().double().abs().sum() for p in module.parameters()))
        row = torch.tensor(
            [sums["tokenizer"], sums["ema_tokenizer"], sums["discriminator"],
             float(pl_module.step_count), float(trainer.global_step)],
            dtype=torch.float64,
        )  # fmt: skip
        gathered = trainer.strategy.all_gather(row)
        if trainer.is_global_zero:
            rows = gathered.reshape(-1, row.numel()).tolist()
            Path(self.out_path).write_text(
                json.dumps({"world_size": trainer.world_size, "rows": rows})
            )
