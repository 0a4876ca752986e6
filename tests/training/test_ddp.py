"""Two-process CPU DDP (gloo) through train.py and the shipped configs/trainer/ddp.yaml."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_two_process_ddp_keeps_ranks_in_sync(tmp_path, photo_dir):
    out = tmp_path / "ranks.json"
    callbacks = tmp_path / "callbacks.yaml"
    callbacks.write_text(
        yaml.safe_dump(
            {
                "trainer": {
                    "callbacks": [
                        {"class_path": "training_helpers.RankSyncCheck",
                         "init_args": {"out_path": str(out)}}
                    ]
                }
            }
        )
    )  # fmt: skip
    cmd = [
        sys.executable, str(ROOT / "train.py"), "fit",
        "--config", str(ROOT / "configs" / "trainer" / "ddp.yaml"),
        "--config", str(callbacks),
        "--trainer.accelerator", "cpu", "--trainer.devices", "2",
        "--trainer.max_steps", "7", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false", "--trainer.limit_val_batches", "1",
        "--trainer.default_root_dir", str(tmp_path),
        "--model.tokenizer", "vqgan_test",
        "--model.tokenizer_args", '{"ch": 8, "z_channels": 8}',
        "--model.criterion.losses", '{"l1": 1.0}', "--model.adversarial.start", "1",
        "--model.adversarial.args", '{"patchgan": {"num_layers": 2, "channels": 8}}',
        "--model.optimizer.warmup_steps", "1",
        "--data", "ImageDataModule",
        "--data.train_dir", str(photo_dir), "--data.val_dir", str(photo_dir),
        "--data.crop_size", "32", "--data.min_short_side", "32", "--data.max_short_side", "48",
        "--data.batch_size", "2", "--data.crops_per_image", "2",
        "--data.val_crops_per_image", "1", "--data.min_gradient_energy", "0",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), str(ROOT)]))
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["world_size"] == 2
    rank0, rank1 = result["rows"]
    # Same weights on both ranks (generator, EMA and discriminator), same step counts.
    assert rank0 == rank1
    # 8 crops over 2 ranks = 2 batches per epoch per rank; max_steps=7 optimizer steps is reached
    # after 4 batches (1 generator-only + 3 with the discriminator).
    assert rank0[3] == 4 and rank0[4] == 7
