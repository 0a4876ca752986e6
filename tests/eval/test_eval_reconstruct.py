"""eval/reconstruct.py end to end on tiny tokenizers saved to folders: JSON protocol fields,
PNG reconstructions, Markdown, and bad input."""

import hashlib
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.evaluation import (
    REQUIRED_FIELDS,
    BadImageError,
    ImageEvaluator,
    SizeMismatchError,
    check_evaluator,
    load_result,
)
from zoo.evaluation.sources import DataLog, ResizeRule, iter_image_batches, open_image_source
from zoo.metrics import PSNR, SSIM


def _get(obj, dotted):
    for part in dotted.split("."):
        obj = obj[part]
    return obj


def test_result_holds_every_protocol_field(titok_result, titok_dir):
    result = load_result(titok_result)
    ImageEvaluator().validate(result)
    for path in REQUIRED_FIELDS:
        assert _get(result, path) is not None or path == "data.skipped", path
    tok = zoo.load(str(titok_dir))
    assert result["tokenizer"]["architecture"] == "titok_test"
    assert result["tokenizer"]["config"] == tok.get_config()
    weights = (titok_dir / "model.safetensors").read_bytes()
    assert result["tokenizer"]["weights_file_sha256"] == hashlib.sha256(weights).hexdigest()
    assert result["data"]["num_samples"] == 9 and result["data"]["skipped"] == []
    assert result["data"]["source"]["kind"] == "skimage"
    assert result["protocol"]["resolution"] == [32, 32]
    assert result["protocol"]["resize"]["mode"] == "center-crop"
    assert result["protocol"]["value_range"] == [-1.0, 1.0]
    assert result["protocol"]["png_round_trip"] is True
    assert result["protocol"]["num_tokens"] == [2, 8]
    assert set(result["metrics"]) == {"psnr", "ssim", "codebook"}
    assert result["environment"]["device"] == "cpu"
    assert result["wall_time_s"] > 0 and result["command"][0] == "eval/reconstruct.py"
    for entry, k in zip(result["results"], (2, 8), strict=True):
        assert entry["num_tokens"] == k
        assert entry["bits_per_image"] == pytest.approx(tok.bits_per_item(k))
        assert entry["bits_per_pixel"] == pytest.approx(tok.bits_per_item(k) / 32**2)
        assert entry["codebook"]["num_codes"] == 9 * k
    # Every protocol field is enforced.
    broken = json.loads(titok_result.read_text())
    del broken["protocol"]["resize"]
    del broken["results"][0]["bits_per_pixel"]
    with pytest.raises(ValueError, match=r"protocol\.resize.*results\[0\]\.bits_per_pixel"):
        ImageEvaluator().validate(broken)


def test_saved_pngs_are_exactly_what_was_measured(titok_result):
    """The PSNR/SSIM of the JSON are recomputed from the saved PNGs and the originals."""
    result = load_result(titok_result)
    png_dir = titok_result.parent / "png" / "tokens_8"
    names = [e["name"] for e in result["data"]["manifest"]]
    assert sorted(p.name for p in png_dir.iterdir()) == sorted(
        n.rsplit(".", 1)[0] + ".png" for n in names
    )
    log = DataLog()
    batches = iter_image_batches(
        open_image_source("skimage"), ResizeRule((32, 32)), batch_size=16, skip_bad=False, log=log
    )
    originals = next(batches)
    recon = torch.stack(
        [
            torch.from_numpy(np.array(Image.open(png_dir / (n.rsplit(".", 1)[0] + ".png"))))
            for n in originals.names
        ]
    ).permute(0, 3, 1, 2)
    psnr, ssim = PSNR(), SSIM()
    psnr.update(recon, originals.images)
    ssim.update(recon, originals.images)
    metrics = result["results"][1]["metrics"]
    assert float(psnr.compute()) == pytest.approx(metrics["psnr"], abs=1e-9)
    assert float(ssim.compute()) == pytest.approx(metrics["ssim"], abs=1e-9)
    md = titok_result.with_suffix(".md").read_text()
    assert "| tokens | bits/image | bpp | PSNR | SSIM |" in md
    assert f"{metrics['psnr']:.2f}" in md


def test_fixed_length_tokenizer_on_a_folder_with_fd(scripts, vqgan_dir, photo_dir, tmp_path):
    out = tmp_path / "vq.json"
    argv = ["--model", str(vqgan_dir), "--data", str(photo_dir), "--resolution", "32",
            "--metrics", "psnr,fd_efflite0", "--out", str(out), "--no-progress",
            "--save-reconstructions", str(tmp_path / "png")]  # fmt: skip
    assert scripts["reconstruct"].main(argv) == 0
    result = load_result(out)
    ImageEvaluator().validate(result)
    (entry,) = result["results"]
    assert entry["num_tokens"] == 64 and result["protocol"]["num_tokens"] == [64]
    assert entry["bits_per_image"] == pytest.approx(64 * math.log2(60))
    assert math.isfinite(entry["metrics"]["fd_efflite0"]) and entry["metrics"]["fd_efflite0"] > 0
    fd = result["metrics"]["fd_efflite0"]
    assert fd["label"] == "FD-EffLite0" and len(fd["weights_sha256"]) == 64
    assert fd["num_real"] == fd["num_fake"] == 3
    # Reconstructions keep the input's relative path, as PNG.
    pngs = sorted(p.relative_to(tmp_path / "png").as_posix() for p in (tmp_path / "png").rglob("*"))
    assert pngs == ["astronaut.png", "camera.png", "sub", "sub/coffee.png"]
    assert "Fréchet distances from 3 images" in out.with_suffix(".md").read_text()


def test_bad_input_is_reported_by_name(scripts, titok_dir, photo_dir, tmp_path):
    data = (photo_dir / "astronaut.jpg").read_bytes()
    (photo_dir / "astronaut.jpg").write_bytes(data[: len(data) // 3])
    base = ["--model", str(titok_dir), "--data", str(photo_dir), "--metrics", "psnr",
            "--no-progress"]  # fmt: skip
    with pytest.raises(BadImageError, match=r"astronaut\.jpg.*--skip-bad"):
        scripts["reconstruct"].main([*base, "--out", str(tmp_path / "a.json")])
    assert not (tmp_path / "a.json").exists()
    rc = scripts["reconstruct"].main([*base, "--skip-bad", "--out", str(tmp_path / "b.json")])
    assert rc == 0
    result = load_result(tmp_path / "b.json")
    assert [e["name"] for e in result["data"]["skipped"]] == ["astronaut.jpg"]
    assert result["data"]["num_samples"] == 2
    # Mixed sizes without a resize rule: a clear error naming the file.
    with pytest.raises(SizeMismatchError, match=r"camera\.png: is 64x64.*expected 32x32"):
        scripts["reconstruct"].main([*base, "--skip-bad", "--resize", "none",
                                     "--out", str(tmp_path / "c.json")])  # fmt: skip
    (photo_dir / "sub" / "coffee.png").unlink()
    (photo_dir / "camera.png").unlink()
    (photo_dir / "astronaut.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="holds no images"):
        scripts["reconstruct"].main([*base, "--out", str(tmp_path / "d.json")])


def test_argument_errors(scripts, titok_dir, vqgan_dir):
    titok, vqgan = zoo.load(str(titok_dir)), zoo.load(str(vqgan_dir))
    evaluate_reconstruction = ImageEvaluator().evaluate
    with pytest.raises(ValueError, match="not flexible-length"):
        evaluate_reconstruction(vqgan, model_name="v", data="skimage", num_tokens=[8])
    with pytest.raises(ValueError, match=r"accepts 1 to 8 tokens"):
        evaluate_reconstruction(titok, model_name="t", data="skimage", num_tokens=[16])
    with pytest.raises(ValueError, match=r"\(32, 32\)"):
        evaluate_reconstruction(titok, model_name="t", data="skimage", resolution=(64, 64))
    with pytest.raises(ValueError, match="at least 161 px"):
        evaluate_reconstruction(
            titok, model_name="t", data="skimage", metrics=["ms_ssim"], progress=False
        )
    video = SimpleNamespace(modality="hologram", _label="tokenizer 'x'")  # no evaluator
    with pytest.raises(NotImplementedError, match="no reconstruction evaluator for modality"):
        check_evaluator(scripts["reconstruct"].evaluators(), video.modality, video._label)
