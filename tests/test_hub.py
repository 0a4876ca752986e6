"""Hub format: save_pretrained / zoo.load round trips, hf-hub: from an offline HF cache,
pretrained configs (package data, Hub repo, upstream checkpoint + converter), push_to_hub with
the network boundary patched, and model cards.

Uses a tiny flexible-length 1D tokenizer defined here, registered only while a test runs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import safetensors.torch
import torch
import yaml
from huggingface_hub import EvalResult, HfApi, ModelCard, constants
from torch import nn

import zoo
from zoo import hub, pretrained
from zoo.quantizers import create_quantizer
from zoo.registry import PretrainedCfg, create_tokenizer, register_tokenizer, unregister_tokenizer
from zoo.tokenizers.base import Tokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class TinyFlexTokenizer(Tokenizer):
    """Linear encoder to ``num_tokens`` 1D tokens, FSQ, linear decoder from any prefix."""

    modality = "image"
    flexible_length = True

    def __init__(self, *, image_size: int = 8, num_tokens: int = 4, width: int = 6):
        super().__init__()
        self.input_size = (image_size, image_size)
        self.num_tokens = num_tokens
        self.width = width
        pixels = 3 * image_size * image_size
        self.enc = nn.Linear(pixels, num_tokens * width)
        self.quantizer = create_quantizer("fsq", levels=[4, 4, 3], dim=width)
        self.dec = nn.Linear(num_tokens * width, pixels)

    def encode(self, x, num_tokens=None):
        z = self.enc(x.flatten(1)).view(x.shape[0], self.num_tokens, self.width)
        return z[:, :num_tokens]

    def decode(self, quantized, num_tokens=None):
        # tail drop: missing tokens are zeros
        pad = self.num_tokens - quantized.shape[1]
        full = torch.cat([quantized, quantized.new_zeros(quantized.shape[0], pad, self.width)], 1)
        side = self.input_size[0]
        return torch.tanh(self.dec(full.flatten(1))).view(-1, 3, side, side)


def convert_upstream(path, tok):
    """Converter for the fake upstream checkpoint: keys live under ``net.`` there."""
    upstream = safetensors.torch.load_file(path)
    return {k.removeprefix("net."): v for k, v in upstream.items()}


@pytest.fixture
def tiny():
    @register_tokenizer
    def tinyflex_s(**kwargs):
        return TinyFlexTokenizer(**dict({"num_tokens": 4}, **kwargs))

    yield "tinyflex_s"
    unregister_tokenizer("tinyflex_s")


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An empty HF cache in tmp_path, with huggingface_hub forced offline."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # huggingface_hub reads these once at import; patch the module values it consults per call.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def put_in_cache(cache: Path, repo_id: str, files: dict[str, Path], commit: str = COMMIT) -> None:
    """Lay files out as huggingface_hub's cache does: snapshots/<commit>/... and refs/main."""
    repo_dir = cache / f"models--{repo_id.replace('/', '--')}"
    snap = repo_dir / "snapshots" / commit
    snap.mkdir(parents=True)
    for name, src in files.items():
        shutil.copy(src, snap / name)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)


def images(b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, 8, 8, generator=g) * 2 - 1


def saved(tok, folder: Path, **kwargs) -> Path:
    tok.save_pretrained(folder, **kwargs)
    return folder


# ------------------------------------------------------------------------------ save / load
def test_save_pretrained_writes_the_hub_format(tiny, tmp_path):
    tok = create_tokenizer(tiny, width=5)
    folder = saved(tok, tmp_path / "tok")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    config = json.loads((folder / "config.json").read_text())
    assert config == {"architecture": "tinyflex_s", "image_size": 8, "num_tokens": 4, "width": 5}
    # a registry name, never an import path or a class reference
    text = json.dumps(config)
    assert "TinyFlexTokenizer" not in text and "test_hub" not in text and "_target_" not in text
    weights = safetensors.torch.load_file(folder / "model.safetensors")
    assert set(weights) == set(tok.state_dict())
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pt"))


def test_round_trip_reproduces_codes_exactly(tiny, tmp_path):
    torch.manual_seed(0)
    tok = create_tokenizer(tiny).eval()
    x = images()
    codes = tok.tokenize(x)
    folder = saved(tok, tmp_path / "tok")
    for loaded in (
        zoo.load(str(folder)),
        zoo.load(folder),
        Tokenizer.from_pretrained(folder),
        TinyFlexTokenizer.from_pretrained(str(folder)),
    ):
        assert type(loaded) is TinyFlexTokenizer and loaded.architecture == "tinyflex_s"
        assert not loaded.training
        assert torch.equal(loaded.tokenize(x), codes)
        assert torch.equal(loaded.tokenize(x, num_tokens=2), codes[:, :2])
        torch.testing.assert_close(loaded.detokenize(codes[:, :3]), tok.detokenize(codes[:, :3]))


def test_shape_changing_override_fails_clearly(tiny, tmp_path):
    tok = create_tokenizer(tiny)
    folder = saved(tok, tmp_path / "tok")
    with pytest.raises(ValueError, match=r"(?s)do not fit.*size mismatch for enc.weight"):
        zoo.load(str(folder), width=3)


def test_from_pretrained_of_another_class_is_refused(tiny, tmp_path):
    class Other(Tokenizer):
        modality = "image"

    folder = saved(create_tokenizer(tiny), tmp_path / "tok")
    with pytest.raises(TypeError, match="builds a TinyFlexTokenizer, not a Other"):
        Other.from_pretrained(folder)


def test_missing_and_unexpected_keys_are_named(tiny, tmp_path):
    folder = saved(create_tokenizer(tiny), tmp_path / "tok")
    weights = safetensors.torch.load_file(folder / "model.safetensors")
    weights.pop("dec.bias")
    weights["extra.weight"] = torch.zeros(2)
    safetensors.torch.save_file(weights, folder / "model.safetensors")
    with pytest.raises(ValueError, match="missing keys") as err:
        zoo.load(str(folder))
    assert "missing keys (1): dec.bias" in str(err.value)
    assert "unexpected keys (1): extra.weight" in str(err.value)


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors"])
def test_folder_missing_a_file_names_it(tiny, tmp_path, missing):
    folder = saved(create_tokenizer(tiny), tmp_path / "tok")
    (folder / missing).unlink()
    with pytest.raises(FileNotFoundError, match=f"is missing {missing}"):
        zoo.load(str(folder))


def test_config_without_architecture_or_with_unknown_one(tiny, tmp_path):
    folder = saved(create_tokenizer(tiny), tmp_path / "tok")
    (folder / "config.json").write_text(json.dumps({"width": 6}))
    with pytest.raises(ValueError, match=r"has no 'architecture' key \(got \['width'\]\)"):
        zoo.load(str(folder))
    (folder / "config.json").write_text(json.dumps({"architecture": "tinyflx_s"}))
    with pytest.raises(ValueError, match=r"names architecture 'tinyflx_s'.*tinyflex_s"):
        zoo.load(str(folder))
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        zoo.load(str(folder))


def test_load_front_door_errors(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        zoo.load(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="write 'hf-hub:org/repo'"):
        zoo.load("org/repo")
    with pytest.raises(ValueError, match="expected 'hf-hub:org/repo'"):
        zoo.load("hf-hub:justaname")
    with pytest.raises(TypeError, match="expected a str or path"):
        zoo.load(3)


def test_save_refuses_a_tokenizer_built_outside_the_registry(tmp_path):
    with pytest.raises(ValueError, match="architecture is not set"):
        TinyFlexTokenizer().save_pretrained(tmp_path / "tok")
    assert not (tmp_path / "tok" / "model.safetensors").exists()


# ------------------------------------------------------------------------------ hf-hub / cache
def test_hf_hub_loads_offline_from_the_cache(tiny, tmp_path, hf_cache):
    tok = create_tokenizer(tiny).eval()
    x = images()
    folder = saved(tok, tmp_path / "tok")
    put_in_cache(
        hf_cache,
        "org/tiny",
        {n: folder / n for n in ("config.json", "model.safetensors")},
    )
    for name in ("hf-hub:org/tiny", f"hf-hub:org/tiny@{COMMIT}"):
        loaded = zoo.load(name)
        assert torch.equal(loaded.tokenize(x), tok.tokenize(x))
    assert torch.equal(Tokenizer.from_pretrained("org/tiny").tokenize(x), tok.tokenize(x))


def test_hf_hub_offline_cache_miss_explains(tiny, hf_cache):
    with pytest.raises(FileNotFoundError, match=r"could not get 'config.json'.*HF_HUB_OFFLINE"):
        zoo.load("hf-hub:org/absent")


def test_hf_hub_repo_without_weights_names_the_file(tiny, tmp_path, hf_cache):
    folder = saved(create_tokenizer(tiny), tmp_path / "tok")
    put_in_cache(hf_cache, "org/half", {"config.json": folder / "config.json"})
    with pytest.raises(FileNotFoundError, match="could not get 'model.safetensors'"):
        zoo.load("hf-hub:org/half")


def test_registry_tag_with_hub_weights_loads_offline(tiny, tmp_path, hf_cache):
    tok = create_tokenizer(tiny).eval()
    folder = saved(tok, tmp_path / "tok")
    put_in_cache(hf_cache, "org/tiny", {"model.safetensors": folder / "model.safetensors"})
    cfg = PretrainedCfg(hub_id="org/tiny", revision=COMMIT, license="MIT")
    zoo.registry.register_pretrained("tinyflex_s.hubw", cfg)
    loaded = zoo.load("tinyflex_s.hubw")
    assert loaded.pretrained_cfg is cfg and not loaded.training
    assert torch.equal(loaded.tokenize(images()), tok.tokenize(images()))
    assert torch.equal(zoo.load("tinyflex_s").tokenize(images()), tok.tokenize(images()))


def test_registry_tag_with_upstream_checkpoint_and_converter(tiny, tmp_path, hf_cache):
    tok = create_tokenizer(tiny).eval()
    upstream = tmp_path / "upstream.safetensors"
    safetensors.torch.save_file({f"net.{k}": v for k, v in tok.state_dict().items()}, upstream)
    put_in_cache(hf_cache, "upstream/tiny", {"ckpt.safetensors": upstream})
    # the converter is given by name and looked up in the variant's module (this file)
    cfg = PretrainedCfg(
        hub_id="upstream/tiny", filename="ckpt.safetensors", converter="convert_upstream"
    )
    zoo.registry.register_pretrained("tinyflex_s.upstream", cfg)
    loaded = zoo.load("tinyflex_s.upstream")
    assert torch.equal(loaded.tokenize(images()), tok.tokenize(images()))

    broken = PretrainedCfg(
        hub_id="upstream/tiny", filename="ckpt.safetensors", converter=lambda p, t: {}
    )
    zoo.registry.register_pretrained("tinyflex_s.broken", broken)
    with pytest.raises(ValueError, match=r"converted from .*missing keys \(8\): dec.bias"):
        zoo.load("tinyflex_s.broken")


def test_upstream_checkpoint_from_url_is_cached_and_hash_checked(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch-hub"))
    tok = create_tokenizer(tiny).eval()
    upstream = tmp_path / "up.safetensors"
    safetensors.torch.save_file({f"net.{k}": v for k, v in tok.state_dict().items()}, upstream)
    digest = hashlib.sha256(upstream.read_bytes()).hexdigest()
    cfg = PretrainedCfg(url=upstream.as_uri(), sha256=digest[:12], converter=convert_upstream)
    zoo.registry.register_pretrained("tinyflex_s.url", cfg)
    loaded = zoo.load("tinyflex_s.url")
    assert torch.equal(loaded.tokenize(images()), tok.tokenize(images()))
    assert (tmp_path / "torch-hub" / "checkpoints" / "up.safetensors").is_file()

    bad = PretrainedCfg(url=upstream.as_uri(), sha256="0" * 12, converter=convert_upstream)
    zoo.registry.register_pretrained("tinyflex_s.badhash", bad)
    with pytest.raises(ValueError, match="has sha256"):
        zoo.load("tinyflex_s.badhash")


def test_package_weights(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "PACKAGE_WEIGHTS_ROOT", tmp_path / "weights")
    tok = create_tokenizer(tiny).eval()
    saved(tok, tmp_path / "weights" / "tinyflex_s_demo")
    zoo.registry.register_pretrained(
        "tinyflex_s.demo", PretrainedCfg(package_weights="tinyflex_s_demo")
    )
    assert torch.equal(zoo.load("tinyflex_s.demo").tokenize(images()), tok.tokenize(images()))

    zoo.registry.register_pretrained("tinyflex_s.gone", PretrainedCfg(package_weights="absent"))
    with pytest.raises(FileNotFoundError, match="is missing config.json, model.safetensors"):
        zoo.load("tinyflex_s.gone")


# ------------------------------------------------------------------------------ push_to_hub
def test_push_to_hub_uploads_the_saved_folder(tiny, monkeypatch, hf_cache):
    calls = {}

    class Repo:
        repo_id = "me/tiny"

    def create_repo(self, repo_id, **kwargs):
        calls["create_repo"] = (repo_id, kwargs)
        return Repo()

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        folder = Path(folder_path)
        calls["upload"] = {
            "repo_id": repo_id,
            "files": sorted(p.name for p in folder.iterdir()),
            "config": json.loads((folder / "config.json").read_text()),
            "readme": (folder / "README.md").read_text(),
            "private": kwargs,
        }
        return "https://huggingface.co/me/tiny/commit/abc"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    tok = create_tokenizer(tiny)
    url = tok.push_to_hub(
        "me/tiny",
        private=True,
        model_card_kwargs={"eval_results": {"dataset": "toy", "metrics": {"psnr": 12.5}}},
    )
    assert url.endswith("/commit/abc")
    assert calls["create_repo"] == ("me/tiny", {"private": True, "exist_ok": True})
    up = calls["upload"]
    assert up["repo_id"] == "me/tiny"
    assert up["files"] == ["README.md", "config.json", "model.safetensors"]
    assert up["config"]["architecture"] == "tinyflex_s"
    assert 'zoo.load("hf-hub:me/tiny")' in up["readme"]
    assert ModelCard(up["readme"]).data.eval_results[0].metric_value == 12.5


# ------------------------------------------------------------------------------ model cards
def front_matter(card: ModelCard) -> dict:
    text = str(card)
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_model_card_puts_eval_results_in_model_index(tiny):
    tok = create_tokenizer(tiny)
    card = hub.render_model_card(
        tok,
        eval_results=[
            {"dataset": "imagenet-1k", "split": "validation", "metrics": {"rFID": 2.5, "psnr": 21}},
            EvalResult(
                task_type="image-to-image",
                dataset_type="coco",
                dataset_name="COCO",
                metric_type="ssim",
                metric_value=0.7,
            ),
        ],
        model_name="tiny-flex",
        license="NVIDIA Open Model License",
        datasets=["imagenet-1k"],
    )
    meta = front_matter(card)
    assert meta["library_name"] == "tokenizer-zoo"
    assert meta["license"] == "other" and meta["license_name"] == "NVIDIA Open Model License"
    assert meta["datasets"] == ["imagenet-1k"]
    assert {"tokenizer-zoo", "image", "tinyflex"} <= set(meta["tags"])
    index = meta["model-index"][0]
    assert index["name"] == "tiny-flex"
    metrics = {
        (r["dataset"]["name"], m["type"]): m["value"]
        for r in index["results"]
        for m in r["metrics"]
    }
    assert metrics == {
        ("imagenet-1k", "rfid"): 2.5,
        ("imagenet-1k", "psnr"): 21.0,
        ("COCO", "ssim"): 0.7,
    }
    parsed = ModelCard(str(card)).data.eval_results
    assert len(parsed) == 3
    assert "| imagenet-1k | validation | rFID | 2.5 |" in card.text
    assert '"architecture": "tinyflex_s"' in card.text
    assert "any prefix of 1 to 4 tokens decodes" in card.text


def test_model_card_defaults_from_pretrained_cfg(tiny):
    cfg = PretrainedCfg(
        hub_id="org/tiny",
        license="MIT",
        paper="https://arxiv.org/abs/0000.00000",
        training_data="toy-set",
        metrics={"psnr": 30.0},
        metrics_dataset="toy-val",
        resolution=8,
    )
    zoo.registry.register_pretrained("tinyflex_s.toy", cfg)
    tok = create_tokenizer("tinyflex_s.toy")
    card = hub.render_model_card(tok)
    meta = front_matter(card)
    assert meta["license"] == "mit" and meta["datasets"] == ["toy-set"]
    result = meta["model-index"][0]["results"][0]
    assert result["dataset"]["name"] == "toy-val"
    assert result["metrics"][0]["value"] == 30.0
    assert 'zoo.load("tinyflex_s.toy")' in card.text
    assert "https://arxiv.org/abs/0000.00000" in card.text and "trained at 8" in card.text


def test_model_card_rejects_malformed_eval_results(tiny):
    with pytest.raises(ValueError, match="dicts with 'dataset' and 'metrics' keys"):
        hub.render_model_card(create_tokenizer(tiny), eval_results=[{"psnr": 3.0}])


def test_card_without_results_has_no_model_index(tiny, tmp_path):
    folder = saved(create_tokenizer(tiny), tmp_path / "tok")
    meta = front_matter(ModelCard.load(folder / "README.md"))
    assert "model-index" not in meta
    assert "No measured results recorded yet." in (folder / "README.md").read_text()


def test_save_pretrained_card_with_eval_results(tiny, tmp_path):
    folder = saved(
        create_tokenizer(tiny),
        tmp_path / "tok",
        model_card_kwargs={"eval_results": {"dataset": "toy", "metrics": {"psnr": 9.0}}},
    )
    card = ModelCard.load(folder / "README.md")
    assert card.data.eval_results[0].metric_value == 9.0


def test_template_shipped_in_package_matches_model_cards_template():
    shipped = hub.model_card_template()
    assert shipped == (REPO_ROOT / "model_cards" / "template.md").read_text(encoding="utf-8")
    assert "{{ card_data }}" in shipped
