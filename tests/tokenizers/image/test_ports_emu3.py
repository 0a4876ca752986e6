"""Emu3's vision tokenizer: numerical parity with transformers' ``Emu3VQVAE`` (random weights,
real photos), loaded through ``zoo.load("emu3_vq_f8.baai", checkpoint_path=...)`` from
``BAAI/Emu3-VisionTokenizer``'s ``model.safetensors`` layout (upstream's
``Emu3VisionVQModel``, ``emu3/tokenizer/modeling_emu3visionvq.py``: ``encoder.down.{i}``,
``mid.{block_1,attn_1,block_2}``, 1x1-conv attention ``{norm,q,k,v,proj_out}``, spatial norms
``{norm_layer,conv_y,conv_b}``, ``decoder.up.{level}``, ``time_conv.{i}.conv.conv``,
``time_res_stack.{i}``) and from a transformers ``save_pretrained`` folder.

The default test shrinks the widths (ch 64 instead of 256: same structure, levels, attention
placement, temporal layers and 32768-entry codebook) to stay fast on CPU; the published
configuration runs under ``-m slow``.
"""

from __future__ import annotations

import re

import pytest
import safetensors.torch
import torch
from ports_common import TOL, max_abs_diff, photos, randomize_
from transformers import Emu3VQVAE, Emu3VQVAEConfig

import zoo
from zoo.registry import get_pretrained_cfg
from zoo.tokenizers.image import emu3

SIZE = 32  # f8: 4 x 4 tokens per photo


def reference(ch: int, seed: int) -> Emu3VQVAE:
    cfg = Emu3VQVAEConfig(
        base_channels=ch, hidden_size=ch * 4, channel_multiplier=[1, 2, 2, 4], attn_resolutions=[3]
    )
    ref = randomize_(Emu3VQVAE(cfg), seed)
    with torch.no_grad():  # codewords spread like the latents, so the codes vary
        z = ref.quant_conv(ref.encoder(photos(SIZE)[:, None].repeat(1, 4, 1, 1, 1)).transpose(1, 2))
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(ref.quantize.embedding.weight.shape, generator=g)
        dims = (0, 2, 3, 4)  # per channel: the 4 latent channels have their own scales
        ref.quantize.embedding.weight.copy_(z.mean(dims) + z.std(dims) * w)
    return ref


def reference_outputs(ref: Emu3VQVAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' codes ``(B, h, w)`` and the images decoded from them."""
    with torch.no_grad():
        sizes = torch.tensor([list(x.shape[-2:])] * x.shape[0])
        codes = torch.stack(ref.encode(x, image_sizes=sizes).image_tokens)
        return codes, ref.decode(codes)


_MID = {"block_1": "block_1", "block_2": "block_2"}
_PROJ = {"q_proj": "q", "k_proj": "k", "v_proj": "v", "out_proj": "proj_out"}


def upstream_layout(hf: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers ``Emu3VQVAE`` keys -> upstream ``Emu3VisionVQModel`` keys (attention as 1x1
    convs inside ``attn.{j}`` / ``mid.attn_1`` together with its norm)."""
    out = {}
    for k, v in hf.items():
        k = k.replace("encoder.down_block.down.", "encoder.down.")
        k = k.replace("decoder.up_block.up.", "decoder.up.")
        k = k.replace(".middle_block.", ".mid.")
        k = re.sub(r"\.attn_norms\.(\d+)\.", r".attn.\1.norm.", k)
        k = k.replace(".mid.attn_norm.", ".mid.attn_1.norm.")
        m = re.search(r"\.(q_proj|k_proj|v_proj|out_proj)\.(weight|bias)$", k)
        if m:
            k = k[: m.start()] + f".{_PROJ[m[1]]}.{m[2]}"
            if m[2] == "weight":
                v = v[:, :, None, None]
        out[k] = v.contiguous()
    return out


@pytest.fixture(scope="module")
def small():
    ref = reference(ch=64, seed=3)
    x = photos(SIZE)
    return ref, x, reference_outputs(ref, x)


def assert_parity(tok, want, x) -> float:
    codes, x_hat = want
    with torch.no_grad():
        ours = tok.tokenize(x)
        ours_x = tok.detokenize(ours)
    assert ours.shape == (x.shape[0], SIZE // 8, SIZE // 8, 1)
    assert torch.equal(ours[..., 0], codes)
    assert codes.unique().numel() > codes.numel() // 3  # not a degenerate code map
    diff = max_abs_diff(ours_x, x_hat)
    assert diff < TOL, diff
    return diff


def test_emu3_from_the_upstream_model_safetensors(small, tmp_path):
    ref, x, want = small
    folder = tmp_path / "Emu3-VisionTokenizer"
    folder.mkdir()
    safetensors.torch.save_file(upstream_layout(ref.state_dict()), folder / "model.safetensors")
    tok = zoo.load("emu3_vq_f8.baai", checkpoint_path=folder / "model.safetensors", ch=64)
    assert_parity(tok, want, x)


def test_emu3_from_a_transformers_folder(small, tmp_path):
    ref, x, want = small
    ref.save_pretrained(tmp_path / "emu3_vqvae")
    tok = zoo.load("emu3_vq_f8.baai", checkpoint_path=tmp_path / "emu3_vqvae", ch=64)
    assert_parity(tok, want, x)


@pytest.mark.slow
def test_emu3_published_configuration(tmp_path):
    ref = reference(ch=256, seed=5)
    x = photos(SIZE)
    safetensors.torch.save_file(upstream_layout(ref.state_dict()), tmp_path / "model.safetensors")
    tok = zoo.load("emu3_vq_f8.baai", checkpoint_path=tmp_path / "model.safetensors")
    assert_parity(tok, reference_outputs(ref, x), x)


def test_converter_errors_and_metadata(small):
    ref, _, _ = small
    with pytest.raises(ValueError, match="does not match this architecture"):
        emu3.convert_emu3_state_dict(ref.state_dict(), zoo.create_tokenizer("emu3_test"))
    cosine = zoo.create_tokenizer(
        "emu3_test", quantizer_kwargs={"codebook_size": 64, "distance": "cosine"}
    )
    with pytest.raises(ValueError, match="distance='l2'"):
        emu3.convert_emu3_state_dict(ref.state_dict(), cosine)
    _, cfg = get_pretrained_cfg("emu3_vq_f8.baai")
    assert (cfg.hub_id, cfg.filename, cfg.license) == (
        "BAAI/Emu3-VisionTokenizer",
        "model.safetensors",
        "Apache-2.0",
    )
    assert len(cfg.revision) == 40
    with torch.device("meta"):
        tok = zoo.create_tokenizer("emu3_vq_f8")
    assert tok.bits_per_item() == 64 * 64 * 15
    assert 270e6 < sum(p.numel() for p in tok.parameters()) < 271e6  # upstream file: 1.08 GB
