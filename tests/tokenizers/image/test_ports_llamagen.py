"""LlamaGen VQ-16 / VQ-8 and the Janus generation VQ: numerical parity with transformers'
``JanusVQVAE`` (random weights at the published configuration, real photos), loaded through
``zoo.load(tag, checkpoint_path=...)`` from files laid out exactly as upstream publishes them.

Upstream layouts written here:

- LlamaGen ``vq_ds16_c2i.pt`` / ``vq_ds8_c2i.pt``: ``torch.save({"model": state_dict})`` of
  LlamaGen's ``VQModel`` (``tokenizer/tokenizer_image/vq_model.py``): ``conv_blocks.{i}.res.{j}``,
  ``conv_blocks.{i}.attn.{j}``, ``conv_blocks.{i}.downsample|upsample``, ``mid.{0,1,2}`` and the
  usage buffer ``quantize.codebook_used`` (65536 entries);
- Janus ``pytorch_model.bin``: the same ``VQModel`` under ``gen_vision_model.`` next to the
  language / vision models;
- transformers ``JanusVQVAE.save_pretrained`` folder (``config.json`` + ``model.safetensors``).

transformers' ``JanusVQVAE`` looks codes up with plain l2 distance to the raw codewords while
LlamaGen and Janus l2-normalise both sides first (``codebook_l2_norm=True``); the two agree when
every codeword has unit norm, which is how LlamaGen initialises its codebook, so the reference is
built that way. A second test scales the codewords and checks the zoo keeps LlamaGen's rule.
"""

from __future__ import annotations

import copy
import re

import pytest
import torch
import torch.nn.functional as F
from ports_common import TOL, randomize_
from ports_common import photos as real_photos
from transformers import JanusVQVAE, JanusVQVAEConfig

import zoo
from zoo.registry import get_pretrained_cfg
from zoo.tokenizers.image import vqgan2d

SIZE = 64  # the published architectures, on 64 px photos to keep CPU time low


def reference(ch_mult: list[int], seed: int, size: int = SIZE) -> JanusVQVAE:
    cfg = JanusVQVAEConfig(channel_multiplier=ch_mult, num_patches=size // 2 ** (len(ch_mult) - 1))
    return randomize_(JanusVQVAE(cfg), seed, unit_codewords=True)  # LlamaGen's init


_MID = {"block_1": "0", "attn_1": "1", "block_2": "2"}


def llamagen_layout(hf: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers ``JanusVQVAE`` keys -> LlamaGen / Janus ``VQModel`` keys (both list the
    decoder's levels coarsest first)."""
    out = {}
    for k, v in hf.items():
        k = re.sub(r"^(encoder|decoder)\.(down|up)\.(\d+)\.block\.", r"\1.conv_blocks.\3.res.", k)
        k = re.sub(r"^(encoder|decoder)\.(down|up)\.(\d+)\.", r"\1.conv_blocks.\3.", k)
        k = re.sub(r"\.mid\.(block_1|attn_1|block_2)\.", lambda m: f".mid.{_MID[m[1]]}.", k)
        out[k] = v
    out["quantize.codebook_used"] = torch.zeros(65536)  # LlamaGen's usage history buffer
    return out


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    return real_photos(SIZE)


@pytest.fixture(scope="module")
def ref16() -> JanusVQVAE:
    return reference([1, 1, 2, 2, 4], seed=16)


def reference_outputs(ref: JanusVQVAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' codes ``(B, h*w)`` and decoded images."""
    with torch.no_grad():
        codes = ref.encode(x).image_tokens.view(x.shape[0], -1)
        return codes, ref.decode(codes)


@pytest.fixture(scope="module")
def want16(ref16, photos) -> tuple[torch.Tensor, torch.Tensor]:
    return reference_outputs(ref16, photos)


def assert_parity(tok, want: tuple[torch.Tensor, torch.Tensor], x: torch.Tensor) -> float:
    want_codes, want_x = want
    with torch.no_grad():
        codes = tok.tokenize(x)
        x_hat = tok.detokenize(codes)
    side = x.shape[-1] // tok.factor
    assert codes.shape == (x.shape[0], side, side, 1)
    assert torch.equal(codes.flatten(1), want_codes)
    assert want_codes.unique().numel() > want_codes.numel() // 3  # not a degenerate code map
    diff = (x_hat - want_x).abs().max().item()
    assert diff < TOL, diff
    return diff


def test_llamagen_vq_f16_from_upstream_pt(ref16, want16, photos, tmp_path):
    path = tmp_path / "vq_ds16_c2i.pt"
    torch.save({"model": llamagen_layout(ref16.state_dict())}, path)
    tok = zoo.load("llamagen_vq_f16.c2i", checkpoint_path=path)
    assert tok.pretrained_cfg.filename == "vq_ds16_c2i.pt" and not tok.training
    assert_parity(tok, want16, photos)


def test_llamagen_vq_f8_from_upstream_pt(photos, tmp_path):
    ref8 = reference([1, 2, 2, 4], seed=8, size=48)  # 6 x 6 tokens
    photos = photos[..., 8:56, 8:56]
    path = tmp_path / "vq_ds8_c2i.pt"
    torch.save({"model": llamagen_layout(ref8.state_dict())}, path)
    tok = zoo.load("llamagen_vq_f8.c2i", checkpoint_path=path)
    assert tok.factor == 8 and tok.token_shape() == (32, 32)
    assert_parity(tok, reference_outputs(ref8, photos), photos)


def test_janus_vq_from_a_transformers_folder(ref16, want16, photos, tmp_path):
    ref16.save_pretrained(tmp_path / "janus_vqvae")  # config.json + model.safetensors
    tok = zoo.load("janus_vq_f16.deepseek", checkpoint_path=tmp_path / "janus_vqvae")
    assert tok.token_shape() == (24, 24)  # Janus-Pro works at 384 px
    assert_parity(tok, want16, photos)


def test_janus_vq_from_the_janus_checkpoint(ref16, want16, photos, tmp_path):
    """Janus's ``pytorch_model.bin``: the VQ under ``gen_vision_model.`` next to the rest of the
    model (read selectively), in bf16 as published."""
    sd = llamagen_layout(ref16.state_dict())
    full = {f"gen_vision_model.{k}": v.to(torch.bfloat16) for k, v in sd.items()}
    full["language_model.model.embed_tokens.weight"] = torch.zeros(4, 2)
    full["gen_head.output_mlp_projector.weight"] = torch.zeros(2, 2)
    torch.save(full, tmp_path / "pytorch_model.bin")
    tok = zoo.load("janus_vq_f16.deepseek", checkpoint_path=tmp_path / "pytorch_model.bin")
    # the reference with the same bf16-rounded weights, codewords renormalised to unit norm
    # (rounding moves their norms off 1; LlamaGen's lookup normalises them anyway)
    bf16 = {k: v.to(torch.bfloat16).float() for k, v in ref16.state_dict().items()}
    bf16["quantize.embedding.weight"] = F.normalize(bf16["quantize.embedding.weight"], dim=-1)
    ref16_bf16 = copy.deepcopy(ref16)
    ref16_bf16.load_state_dict(bf16)
    x = photos[:1]
    with torch.no_grad():  # codes only: decoding is covered above
        want = ref16_bf16.encode(x).image_tokens.view(1, -1)
        assert torch.equal(tok.tokenize(x).flatten(1), want)


def test_codewords_are_l2_normalised_as_in_llamagen(ref16, want16, photos, tmp_path):
    """Rescaled codewords change transformers' raw-l2 lookup but not LlamaGen's (normalised)
    one, nor its decoder input (normalised codewords): the zoo must give the unit-norm codes."""
    want_codes, want_x = want16
    sd = llamagen_layout(ref16.state_dict())
    g = torch.Generator().manual_seed(0)
    scale = torch.empty(sd["quantize.embedding.weight"].shape[0], 1).uniform_(0.2, 5, generator=g)
    sd["quantize.embedding.weight"] = sd["quantize.embedding.weight"] * scale
    torch.save({"model": sd}, tmp_path / "vq_ds16_c2i.pt")
    tok = zoo.load("llamagen_vq_f16.c2i", checkpoint_path=tmp_path / "vq_ds16_c2i.pt")
    with torch.no_grad():
        codes = tok.tokenize(photos)
        assert torch.equal(codes.flatten(1), want_codes)
        assert (tok.detokenize(codes) - want_x).abs().max().item() < TOL


def test_second_load_reads_the_converted_cache(ref16, tmp_path, monkeypatch):
    path = tmp_path / "vq_ds16_c2i.pt"
    torch.save({"ema": llamagen_layout(ref16.state_dict())}, path)  # EMA weights are preferred
    first = zoo.load("llamagen_vq_f16.c2i", checkpoint_path=path)

    def no_reading(*args, **kwargs):
        raise AssertionError("the upstream checkpoint was read again")

    monkeypatch.setattr(vqgan2d, "read_checkpoint", no_reading)
    second = zoo.load("llamagen_vq_f16.c2i", checkpoint_path=path)
    for (k, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_converter_errors_name_the_problem(ref16):
    sd = llamagen_layout(ref16.state_dict())
    f8 = zoo.create_tokenizer("llamagen_vq_f8")
    with pytest.raises(ValueError, match=r"does not match this architecture.*llamagen_vq_f8"):
        vqgan2d.convert_llamagen_state_dict(sd, f8)
    l2 = zoo.create_tokenizer(
        "llamagen_vq_f16", quantizer_kwargs={"codebook_size": 16384, "distance": "l2"}
    )
    with pytest.raises(ValueError, match="distance='cosine'"):
        vqgan2d.convert_llamagen_state_dict(sd, l2)
    with pytest.raises(ValueError, match="not a LlamaGen / Janus VQ checkpoint"):
        vqgan2d.convert_llamagen_state_dict({"x": torch.zeros(1)}, f8)


def test_published_tags_pin_upstream_and_metadata():
    names = set(zoo.list_tokenizers(["llamagen*", "janus*"], pretrained=True))
    assert {"llamagen_vq_f16.c2i", "llamagen_vq_f8.c2i", "janus_vq_f16.deepseek"} <= names
    for name in names:
        _, cfg = get_pretrained_cfg(name)
        assert cfg.converter == "convert_llamagen_checkpoint" and callable(
            getattr(vqgan2d, cfg.converter)
        )
        assert cfg.hub_id and cfg.filename and cfg.revision and cfg.license and cfg.paper
    _, c2i = get_pretrained_cfg("llamagen_vq_f16.c2i")
    assert (c2i.hub_id, c2i.filename, c2i.license) == (
        "FoundationVision/LlamaGen",
        "vq_ds16_c2i.pt",
        "MIT",
    )
    assert c2i.metrics["rfid"] == 2.19
    assert get_pretrained_cfg("llamagen_vq_f8.c2i")[1].metrics["rfid"] == 0.59
    tok = zoo.create_tokenizer("llamagen_vq_f16")
    assert tok.bits_per_item() == 16 * 16 * 14
    assert 71e6 < sum(p.numel() for p in tok.parameters()) < 73e6  # upstream: 72M
