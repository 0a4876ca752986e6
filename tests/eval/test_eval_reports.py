"""eval/rate_distortion.py, eval/compare.py and eval/to_model_card.py end to end."""

import json

import pytest
import yaml
from PIL import Image

from zoo.evaluation import ImageEvaluator, load_result
from zoo.evaluation.rate_distortion import rate_distortion


@pytest.fixture(scope="module")
def rd_path(scripts, titok_result, vqgan_dir, tmp_path_factory):
    """Rate-distortion of the tiny TiTok (reused result) and the tiny VQGAN (evaluated here)."""
    out = tmp_path_factory.mktemp("rd") / "rd.json"
    argv = ["--results", str(titok_result), "--model", str(vqgan_dir), "--data", "skimage",
            "--metrics", "psnr,ssim", "--codecs", "jpeg,webp", "--sweep", "10,50,90",
            "--codec-scales", "1,0.25",
            "--out", str(out), "--no-progress"]  # fmt: skip
    assert scripts["rate_distortion"].main(argv) == 0
    return out


def test_rate_distortion_outputs(rd_path, titok_result):
    rd = load_result(rd_path)
    assert rd["schema"] == "tokenizer-zoo/rate-distortion/v1"
    first = rd["tokenizers"][0]
    assert first["name"] == load_result(titok_result)["tokenizer"]["name"]
    assert len(rd["tokenizers"]) == 2
    assert set(rd["codecs"]) == {"jpeg", "webp", "jpeg@0.25x", "webp@0.25x"}
    assert rd["codecs"]["jpeg@0.25x"]["settings"]["scale"] == 0.25
    rates = sorted(p["bits_per_image"] for t in rd["tokenizers"] for p in t["points"])
    for codec in rd["codecs"].values():
        assert sorted(m["target_bits_per_image"] for m in codec["matched"]) == rates
        assert [e["quality"] for e in codec["sweep"]] == [10, 50, 90]
        bpp = [e["bits_per_pixel"] for e in codec["sweep"]]
        psnr = [e["metrics"]["psnr"] for e in codec["sweep"]]
        assert bpp == sorted(bpp) and psnr == sorted(psnr)  # more bits, higher PSNR
    for name in ("jpeg", "webp"):
        for m in rd["codecs"][name]["matched"]:
            # A 32 px photo costs a JPEG/WebP file far more than these tokenizers' few bits.
            assert m["num_unreachable"] == 9 and m["fraction_within_tolerance"] == 0.0
        # Coding at a quarter of the resolution reaches lower rates.
        full, small = (rd["codecs"][n]["sweep"][0] for n in (name, f"{name}@0.25x"))
        assert small["bits_per_pixel"] < full["bits_per_pixel"]
    assert len(rd["comparison"]) == 3 * 4
    assert {v for row in rd["comparison"] for v in row["tokenizer_is"].values()} <= {
        "ahead",
        "behind",
        "tie",
    }
    md = rd_path.with_suffix(".md").read_text()
    assert "## At matched rate" in md and "could not match this rate" in md
    assert "![rate-distortion](rd.png)" in md
    with Image.open(rd_path.with_suffix(".png")) as im:
        assert im.size[0] > 500 and im.size[1] > 200


def test_rate_distortion_refuses_mixed_protocols(titok_result, tmp_path):
    a = load_result(titok_result)
    b = json.loads(json.dumps(a))
    b["data"]["manifest_sha256"] = "0" * 64
    with pytest.raises(ValueError, match="different data manifests"):
        rate_distortion(ImageEvaluator(), results=[a, b])
    with pytest.raises(ValueError, match="at least one tokenizer result"):
        rate_distortion(ImageEvaluator(), results=[])


def test_compare_leaderboard(scripts, titok_result, rd_path, tmp_path):
    out = tmp_path / "board.md"
    assert scripts["compare"].main([str(titok_result), str(rd_path), "--out", str(out)]) == 0
    text = out.read_text()
    assert "Sorted by PSNR (higher is better)" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    psnr = [float(r.split("|")[5]) for r in rows]
    assert psnr == sorted(psnr, reverse=True) and any("JPEG" in r for r in rows)
    assert "different protocols" not in text  # same data, resolution and rule
    assert out.with_suffix(".png").stat().st_size > 0
    # A result under another protocol is flagged, and refused with --strict.
    other = json.loads(titok_result.read_text())
    other["protocol"]["resolution"] = [64, 64]
    other_path = tmp_path / "other.json"
    other_path.write_text(json.dumps(other))
    with pytest.raises(SystemExit, match="already exist; pass --overwrite"):
        scripts["compare"].main([str(titok_result), str(other_path), "--out", str(out)])
    scripts["compare"].main([str(titok_result), str(other_path), "--out", str(out), "--overwrite"])
    assert "2 different protocols" in out.read_text()
    with pytest.raises(SystemExit, match="different protocols"):
        scripts["compare"].main([str(titok_result), str(other_path), "--strict", "--out", str(out),
                                 "--overwrite"])  # fmt: skip
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "something-else"}))
    with pytest.raises(ValueError, match="unknown schema"):
        scripts["compare"].main([str(bad), "--out", str(out), "--overwrite"])


def test_model_card(scripts, titok_result, titok_dir, vqgan_dir, tmp_path):
    out = tmp_path / "eval_results.json"
    card = tmp_path / "card" / "README.md"
    argv = [str(titok_result), "--dataset-name", "bundled-photos", "--split", "test",
            "--out", str(out), "--model", str(titok_dir), "--card", str(card)]  # fmt: skip
    assert scripts["to_model_card"].main(argv) == 0
    (entry,) = json.loads(out.read_text())
    assert entry["dataset"] == "bundled-photos (9 images)" and entry["split"] == "test"
    result = load_result(titok_result)
    psnr8 = result["results"][1]["metrics"]["psnr"]
    assert entry["metrics"]["PSNR @32px, 8 tokens"] == pytest.approx(psnr8)
    assert "bits per pixel @32px, 2 tokens" in entry["metrics"]
    text = card.read_text()
    header = yaml.safe_load(text.split("---")[1])
    metrics = header["model-index"][0]["results"][0]["metrics"]
    (m8,) = [m for m in metrics if m["name"] == "PSNR @32px, 8 tokens"]
    assert m8["value"] == pytest.approx(psnr8)
    assert "| bundled-photos (9 images) | test | PSNR @32px, 8 tokens |" in text
    assert "| metric | value |" in out.with_suffix(".md").read_text()
    # A card for another model than the one measured is refused.
    with pytest.raises(SystemExit, match="config sha256"):
        scripts["to_model_card"].main([str(titok_result), "--model", str(vqgan_dir),
                                       "--card", str(card), "--overwrite"])  # fmt: skip
