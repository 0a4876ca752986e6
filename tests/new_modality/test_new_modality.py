"""A new modality is its own file: the made-up 1-D sensor modality of sensor_modality.py (its
tokenizer family, Modality, Evaluator and data module, registered by that file alone) trains one
fast_dev_run step through train.py and evaluates through eval/reconstruct.py, with no edit to
zoo/, train.py or eval/."""

import importlib.util
import json
from pathlib import Path

import pytest
import sensor_modality as sensor

ROOT = Path(__file__).resolve().parents[2]


def _script(path: Path):
    spec = importlib.util.spec_from_file_location(f"zoo_script_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def registered():
    """Registered for the test only: the contract tests sweep every registered tokenizer."""
    sensor.register()
    yield
    sensor.unregister()


def test_a_new_modality_trains_through_train_py(registered, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = sensor.write_signals(tmp_path / "signals", n=4)
    cli = _script(ROOT / "train.py").cli_main(
        ["fit", "--model.tokenizer", "sensor_test", "--model.optimizer.warmup_steps", "1",
         "--data", "sensor_modality.SensorDataModule", "--data.folder", str(data),
         "--trainer.fast_dev_run", "1", "--trainer.accelerator", "cpu"]
    )  # fmt: skip
    m = cli.model
    assert m.modality.name == "sensor" and m.tokenizer.architecture == "sensor_test"
    # The modality's defaults: its criterion (L2), no discriminator (it names none).
    assert set(m.criterion.terms) == {"l2"} and m.discriminator is None
    assert int(m.step_count) == 1 and cli.trainer.global_step == 1
    logged = cli.trainer.logged_metrics
    assert {"train/rec", "train/psnr", "train/loss"} <= set(logged)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signals"]  # a smoke run leaves nothing


def test_a_new_modality_evaluates_through_eval_reconstruct(registered, tmp_path):
    data = sensor.write_signals(tmp_path / "signals", n=3)
    reconstruct = _script(ROOT / "eval" / "reconstruct.py")
    out = tmp_path / "sensor.json"
    argv = ["--model", "sensor_test", "--random-init", "--data", str(data), "--out", str(out),
            "--no-progress"]  # fmt: skip
    assert reconstruct.main(argv) == 0
    result = json.loads(out.read_text())
    assert result["modality"] == "sensor" and result["data"]["num_samples"] == 3
    assert [e["name"] for e in result["data"]["manifest"]] == ["s0.npy", "s1.npy", "s2.npy"]
    (entry,) = result["results"]
    assert entry["bits_per_item"] == pytest.approx(16 * 6)  # 16 tokens of FSQ [8, 8]
    assert entry["metrics"]["mse"] > 0 and entry["metrics"]["psnr"] > 0
    assert entry["codebook"]["num_codes"] == 3 * 16
    assert result["protocol"]["metric_names"] == ["mse", "psnr"]
    sensor.SensorEvaluator().validate(result)
    assert "| rate | bits/item | mse | PSNR |" in out.with_suffix(".md").read_text()
    # Hooks it does not define are refused before any data is read.
    with pytest.raises(ValueError, match="--save-reconstructions: the sensor evaluator has no"):
        reconstruct.main([*argv[:-3], "--out", str(tmp_path / "c.json"), "--no-progress",
                          "--save-reconstructions", str(tmp_path / "rec")])  # fmt: skip
    assert not (tmp_path / "c.json").exists()
    # Options of the other modalities are refused for the new one.
    with pytest.raises(SystemExit, match="--resolution do\\(es\\) not apply to sensor"):
        reconstruct.main([*argv[:-3], "--out", str(tmp_path / "b.json"), "--resolution", "32",
                          "--no-progress"])  # fmt: skip
