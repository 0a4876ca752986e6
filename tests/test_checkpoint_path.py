"""``zoo.load(tag, checkpoint_path=...)``: upstream checkpoints from a local file or folder,
converted once and cached in this project's format; ``zoo.tokenizers.upstream`` readers.

Uses the registered ``vqgan_test`` architecture with tags registered only while a test runs and a
fake upstream layout (every key under ``net.``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import safetensors.torch
import torch

import zoo
from zoo import hub
from zoo.registry import _PRETRAINED, PretrainedCfg, register_pretrained
from zoo.tokenizers.upstream import read_checkpoint, take_prefix, unwrap_checkpoint

ARCH = "vqgan_test"
CALLS: list[str] = []


def convert_fake(path: str, tok) -> dict:
    """Fake upstream converter: a ``{"model": {"net." + key: tensor}}`` pickle or a folder."""
    CALLS.append(path)
    return take_prefix(unwrap_checkpoint(read_checkpoint(path)), "net.")


@pytest.fixture
def tags():
    before = dict(_PRETRAINED[ARCH])
    CALLS.clear()
    yield
    _PRETRAINED[ARCH].clear()
    _PRETRAINED[ARCH].update(before)


@pytest.fixture
def reference():
    torch.manual_seed(0)
    return zoo.create_tokenizer(ARCH).eval()


def images():
    g = torch.Generator().manual_seed(1)
    return torch.rand(2, 3, 32, 32, generator=g) * 2 - 1


def upstream_file(tok, path: Path) -> Path:
    torch.save({"model": {f"net.{k}": v for k, v in tok.state_dict().items()}}, path)
    return path


def register(tag: str, **kw) -> str:
    kw.setdefault("converter", convert_fake)
    register_pretrained(
        f"{ARCH}.{tag}", PretrainedCfg(hub_id="upstream/none", filename="x.pt", **kw)
    )
    return f"{ARCH}.{tag}"


def cache_files(name: str) -> list[Path]:
    return sorted((hub.conversion_cache_dir() / name).rglob("model.safetensors"))


def test_upstream_file_is_converted_once_then_read_from_the_cache(tags, reference, tmp_path):
    name = register("fake_file")
    path = upstream_file(reference, tmp_path / "upstream.pt")
    first = zoo.load(name, checkpoint_path=path)
    assert CALLS == [str(path)] and not first.training
    assert torch.equal(first.tokenize(images()), reference.tokenize(images()))
    assert len(cache_files(name)) == 1

    second = zoo.load(name, checkpoint_path=str(path))  # a plain safetensors read
    assert CALLS == [str(path)]
    assert torch.equal(second.tokenize(images()), reference.tokenize(images()))
    assert second.pretrained_cfg is first.pretrained_cfg

    # another checkpoint at the same path (new size / mtime) is converted again
    torch.manual_seed(5)
    other = zoo.create_tokenizer(ARCH).eval()
    upstream_file(other, path)
    os.utime(path, ns=(1, 1))
    third = zoo.load(name, checkpoint_path=path)
    assert len(CALLS) == 2 and len(cache_files(name)) == 2
    assert torch.equal(third.tokenize(images()), other.tokenize(images()))


def test_damaged_cache_entry_is_converted_again(tags, reference, tmp_path):
    name = register("fake_damaged")
    path = upstream_file(reference, tmp_path / "upstream.pt")
    zoo.load(name, checkpoint_path=path)
    (entry,) = cache_files(name)
    entry.write_bytes(b"not safetensors")
    with pytest.warns(UserWarning, match="ignoring the cached conversion"):
        tok = zoo.load(name, checkpoint_path=path)
    assert len(CALLS) == 2
    assert torch.equal(tok.tokenize(images()), reference.tokenize(images()))
    assert safetensors.torch.load_file(entry)  # rewritten


def test_overrides_get_their_own_cache_entry(tags, reference, tmp_path):
    name = register("fake_override")
    path = upstream_file(reference, tmp_path / "upstream.pt")
    zoo.load(name, checkpoint_path=path)
    zoo.load(name, checkpoint_path=path, dropout=0.1)  # same weights, other config
    assert len(CALLS) == 2 and len(cache_files(name)) == 2


def test_folder_in_the_upstream_layout_reaches_the_converter(tags, reference, tmp_path):
    name = register("fake_folder")
    folder = tmp_path / "published"
    folder.mkdir()
    sd = {f"net.{k}": v.contiguous() for k, v in reference.state_dict().items()}
    keys = sorted(sd)
    shards = {
        "model-00001-of-00002.safetensors": keys[::2],
        "model-00002-of-00002.safetensors": keys[1::2],
    }
    for shard, names in shards.items():
        safetensors.torch.save_file({k: sd[k] for k in names}, folder / shard)
    weight_map = {k: shard for shard, names in shards.items() for k in names}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (folder / "config.json").write_text("{}")
    tok = zoo.load(name, checkpoint_path=folder)
    assert CALLS == [str(folder)]
    assert torch.equal(tok.tokenize(images()), reference.tokenize(images()))
    assert torch.equal(
        tok.detokenize(tok.tokenize(images())), reference.detokenize(reference.tokenize(images()))
    )


def test_tag_in_our_format_reads_a_local_file_or_folder(tags, reference, tmp_path):
    name = register("ours", converter=None)
    reference.save_pretrained(tmp_path / "ours")
    for path in (tmp_path / "ours", tmp_path / "ours" / "model.safetensors"):
        tok = zoo.load(name, checkpoint_path=path)
        assert torch.equal(tok.tokenize(images()), reference.tokenize(images()))


def test_checkpoint_path_errors(tags, reference, tmp_path):
    name = register("fake_errors")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        zoo.load(name, checkpoint_path=tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="is a URL"):
        zoo.load(name, checkpoint_path="https://example.invalid/vq.pt")
    with pytest.raises(ValueError, match="goes with a registered name"):
        zoo.load(str(tmp_path), checkpoint_path=tmp_path)
    with pytest.raises(ValueError, match="pass pretrained=True"):
        zoo.create_tokenizer(name, checkpoint_path=tmp_path)
    with pytest.raises(ValueError, match="no weights tagged"):
        zoo.load(f"{ARCH}.nope", checkpoint_path=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has none of"):
        zoo.load(name, checkpoint_path=tmp_path / "empty")


def test_read_checkpoint_select_and_unwrap(tmp_path):
    sd = {"a.w": torch.ones(2), "b.w": torch.zeros(3)}
    safetensors.torch.save_file(sd, tmp_path / "m.safetensors")
    assert set(
        read_checkpoint(tmp_path / "m.safetensors", select=lambda k: k.startswith("a."))
    ) == {"a.w"}
    torch.save({"ema": sd, "model": {}}, tmp_path / "m.pt")
    assert set(unwrap_checkpoint(read_checkpoint(tmp_path / "m.pt"))) == {"a.w", "b.w"}
    (tmp_path / "m.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown file type"):
        read_checkpoint(tmp_path / "m.npz")


def test_offline_miss_of_an_upstream_file_suggests_checkpoint_path(tags, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    name = register("fake_offline")
    with pytest.raises(FileNotFoundError, match=r"checkpoint_path='path/to/x\.pt'"):
        zoo.load(name)
