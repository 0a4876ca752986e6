"""Fixtures for the evaluation tests: tiny tokenizers saved to folders, the eval/ scripts, real
photos written as files."""

import importlib.util
from pathlib import Path

import pytest
import torch
from eval_helpers import write_photos

import zoo

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str):
    """Import ``eval/<name>.py`` as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(f"zoo_eval_{name}", ROOT / "eval" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def scripts():
    names = ("reconstruct", "rate_distortion", "compare", "to_model_card")
    return {n: load_script(n) for n in names}


def _save(name: str, folder: Path) -> Path:
    torch.manual_seed(0)
    zoo.create_tokenizer(name).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def titok_dir(tmp_path_factory) -> Path:
    """The tiny flexible-length TiTok (32 px, 8 tokens), saved with save_pretrained."""
    return _save("titok_test", tmp_path_factory.mktemp("titok_test"))


@pytest.fixture(scope="session")
def vqgan_dir(tmp_path_factory) -> Path:
    """The tiny 2D VQGAN (32 px, 8 x 8 tokens), saved with save_pretrained."""
    return _save("vqgan_test", tmp_path_factory.mktemp("vqgan_test"))


@pytest.fixture
def photo_dir(tmp_path) -> Path:
    write_photos(tmp_path / "photos")
    return tmp_path / "photos"


@pytest.fixture(scope="session")
def titok_result(scripts, titok_dir, tmp_path_factory):
    """eval/reconstruct.py on the bundled photos with the tiny TiTok at 2 and 8 tokens."""
    out = tmp_path_factory.mktemp("recon")
    argv = [
        "--model", str(titok_dir), "--data", "skimage", "--num-tokens", "2,8",
        "--metrics", "psnr,ssim", "--save-reconstructions", str(out / "png"),
        "--out", str(out / "titok.json"), "--no-progress",
    ]  # fmt: skip
    assert scripts["reconstruct"].main(argv) == 0
    return out / "titok.json"
