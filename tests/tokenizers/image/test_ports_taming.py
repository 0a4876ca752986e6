"""Taming-style VQGANs: Chameleon's VQGAN and aMUSEd's VQGAN, numerically against pip-installable
references (random weights, real photos), loaded through ``zoo.load(tag, checkpoint_path=...)``
from files laid out exactly as upstream publishes them.

- Chameleon (``chameleon_vq_f16.meta``): Meta publishes taming's Lightning checkpoint
  ``tokenizer/vqgan.ckpt`` (``{"state_dict": ...}``, ``chameleon/inference/vqgan.py``: decoder
  ``up.{level}`` finest first, ``loss.*`` next to the model). References: transformers'
  ``ChameleonVQVAE`` for the encoder and codes (it has no decoder) and diffusers' ``VQModel`` of
  the same configuration for the decoder; both hold the same weights.
- aMUSEd (``amused_vq_f16.*``): the ``vqvae/`` folder of the diffusers pipeline
  (``VQModel.save_pretrained``: ``config.json`` + ``diffusion_pytorch_model.safetensors``).
  Reference: diffusers' ``VQModel``.

The default tests narrow the widths (base 32 instead of 128: same levels, blocks, attention
placement, latent width and 8192-entry codebook) to stay fast on CPU; the published
configurations run under ``-m slow``.
"""

from __future__ import annotations

import re

import pytest
import torch
from diffusers import VQModel
from ports_common import TOL, max_abs_diff, photos, randomize_
from transformers import ChameleonVQVAE, ChameleonVQVAEConfig

import zoo
from zoo.registry import get_pretrained_cfg
from zoo.tokenizers.image import vqgan2d

SIZE = 64  # 64 px photos: 4 x 4 tokens at f16


def vq_model(widths: list[int], latent: int, mid_attention: bool, seed: int) -> VQModel:
    n = len(widths)
    vq = VQModel(
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(widths), layers_per_block=2, latent_channels=latent,
        num_vq_embeddings=8192, vq_embed_dim=latent, norm_num_groups=32, sample_size=SIZE,
        mid_block_add_attention=mid_attention, lookup_from_codebook=True,
    )  # fmt: skip
    randomize_(vq, seed)
    with torch.no_grad():  # codewords spread like the encoder's latents, so codes vary
        z = vq.encode(photos(SIZE)).latents
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(vq.quantize.embedding.weight.shape, generator=g)
        vq.quantize.embedding.weight.copy_(z.mean() + z.std() * w)
    return vq


def diffusers_outputs(vq: VQModel, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """diffusers' codes ``(B, h*w)`` and the images decoded from them (codebook lookup)."""
    with torch.no_grad():
        z = vq.encode(x).latents
        codes = vq.quantize(z)[2][2].view(x.shape[0], -1)
        shape = (x.shape[0], *z.shape[2:], z.shape[1])
        return codes, vq.decode(codes.flatten(), force_not_quantize=True, shape=shape).sample


def assert_parity(tok, codes: torch.Tensor, x_hat: torch.Tensor, x: torch.Tensor) -> float:
    with torch.no_grad():
        ours = tok.tokenize(x)
        ours_x = tok.detokenize(ours)
    assert ours.shape == (x.shape[0], SIZE // 16, SIZE // 16, 1)
    assert torch.equal(ours.flatten(1), codes)
    assert codes.unique().numel() > codes.numel() // 3  # not a degenerate code map
    diff = max_abs_diff(ours_x, x_hat)
    assert diff < TOL, diff
    return diff


# ------------------------------------------------------------------------------------ Chameleon
_MID = {"0": "block_1", "1": "block_2"}
_PARTS = (
    (".group_norm.", ".norm."), (".to_q.", ".q."), (".to_k.", ".k."), (".to_v.", ".v."),
    (".to_out.0.", ".proj_out."), (".conv_shortcut.", ".nin_shortcut."),
    ("conv_norm_out", "norm_out"),
)  # fmt: skip


def taming_layout(diffusers_sd: dict[str, torch.Tensor], levels: int) -> dict[str, torch.Tensor]:
    """diffusers ``VQModel`` keys -> taming's (Chameleon ``vqgan.ckpt``): decoder ``up.{level}``
    finest first, attention as 1x1 convs named q/k/v/proj_out, ``nin_shortcut``."""
    out = {}
    for k, v in diffusers_sd.items():
        k = re.sub(r"^encoder\.down_blocks\.(\d+)\.resnets\.", r"encoder.down.\1.block.", k)
        k = re.sub(
            r"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample.", k
        )
        k = re.sub(
            r"^decoder\.up_blocks\.(\d+)\.(resnets|upsamplers\.0)\.",
            lambda m: (
                f"decoder.up.{levels - 1 - int(m[1])}."
                + ("block." if m[2] == "resnets" else "upsample.")
            ),
            k,
        )
        k = re.sub(r"\.mid_block\.resnets\.(\d)\.", lambda m: f".mid.{_MID[m[1]]}.", k)
        k = k.replace(".mid_block.attentions.0.", ".mid.attn_1.")
        for a, b in _PARTS:
            k = k.replace(a, b)
        if ".attn_1." in k and k.endswith(".weight") and v.ndim == 2:
            v = v[:, :, None, None]  # taming's attention uses 1x1 convs
        out[k] = v
    return out


def chameleon_references(ch: int, seed: int = 7):
    """diffusers ``VQModel`` at Chameleon's configuration with base width ``ch`` (128
    published), its weights in taming's layout, and transformers' ``ChameleonVQVAE`` holding
    the encoder half of them, key for key."""
    vq = vq_model([ch, ch, 2 * ch, 2 * ch, 4 * ch], latent=256, mid_attention=True, seed=seed)
    taming = taming_layout(vq.state_dict(), levels=5)
    cfg = ChameleonVQVAEConfig(resolution=SIZE, base_channels=ch)
    enc = ChameleonVQVAE(cfg).eval()
    enc.load_state_dict({k: v for k, v in taming.items() if not k.startswith("decoder.")})
    return vq, enc, taming


@pytest.fixture(scope="module")
def chameleon():
    return chameleon_references(ch=32)  # same structure, narrower: fast on CPU


def check_chameleon(vq, enc, taming, folder, **overrides) -> float:
    x = photos(SIZE)
    codes, x_hat = diffusers_outputs(vq, x)
    with torch.no_grad():
        want = enc.encode(x).image_tokens.view(x.shape[0], -1)
    assert torch.equal(codes, want)  # the two references agree on the codes

    # Chameleon's release: a Lightning checkpoint with the training loss next to the model
    ckpt = {"state_dict": {**taming, "loss.discriminator.main.0.weight": torch.zeros(64, 3, 4, 4)}}
    torch.save(ckpt, folder / "vqgan.ckpt")
    tok = zoo.load("chameleon_vq_f16.meta", checkpoint_path=folder / "vqgan.ckpt", **overrides)
    assert tok.token_shape() == (32, 32) and tok.bits_per_item() == 32 * 32 * 13
    return assert_parity(tok, want, x_hat, x)


def test_chameleon_vq_from_the_upstream_vqgan_ckpt(chameleon, tmp_path):
    check_chameleon(*chameleon, tmp_path, ch=32)


@pytest.mark.slow
def test_chameleon_vq_published_configuration(tmp_path):
    check_chameleon(*chameleon_references(ch=128), tmp_path)


def test_chameleon_encoder_only_checkpoint_is_refused(chameleon, tmp_path):
    _, enc, _ = chameleon
    enc.save_pretrained(tmp_path / "chameleon_vqvae")  # transformers keeps no decoder
    with pytest.raises(ValueError, match="no decoder"):
        zoo.load("chameleon_vq_f16.meta", checkpoint_path=tmp_path / "chameleon_vqvae", ch=32)


# ------------------------------------------------------------------------------------ aMUSEd
def check_amused(base: int, folder, **overrides) -> float:
    """aMUSEd's configuration with base width ``base`` (128 published: widths 128-768)."""
    widths = [base, 2 * base, 2 * base, 4 * base, 6 * base]
    vq = vq_model(widths, latent=64, mid_attention=False, seed=3)
    vq.save_pretrained(folder / "vqvae")  # config.json + diffusion_pytorch_model.safetensors
    x = photos(SIZE)
    codes, x_hat = diffusers_outputs(vq, x)
    tok = zoo.load("amused_vq_f16.amused_256", checkpoint_path=folder / "vqvae", **overrides)
    assert tok.bits_per_item() == 16 * 16 * 13
    return assert_parity(tok, codes, x_hat, x)


def test_amused_vq_from_the_diffusers_vqvae_folder(tmp_path):
    check_amused(32, tmp_path, ch=32)  # same structure, narrower: fast on CPU


@pytest.mark.slow
def test_amused_vq_published_configuration(tmp_path):
    check_amused(128, tmp_path)


def test_taming_converter_errors_name_the_problem(chameleon):
    _, _, taming = chameleon
    amused = zoo.create_tokenizer("amused_vq_f16")
    with pytest.raises(ValueError, match=r"does not match this architecture.*chameleon_vq_f16"):
        vqgan2d.convert_taming_state_dict({"state_dict": taming}, amused)
    cosine = zoo.create_tokenizer(
        "chameleon_vq_f16", quantizer_kwargs={"codebook_size": 8192, "distance": "cosine"}
    )
    with pytest.raises(ValueError, match="distance='l2'"):
        vqgan2d.convert_taming_state_dict({"state_dict": taming}, cosine)


def test_published_tags_pin_upstream_and_metadata():
    for name, license_part in (
        ("chameleon_vq_f16.meta", "Chameleon Research License"),
        ("amused_vq_f16.amused_256", "openrail++"),
        ("amused_vq_f16.amused_512", "openrail++"),
    ):
        _, cfg = get_pretrained_cfg(name)
        assert cfg.converter == "convert_taming_checkpoint"
        assert cfg.hub_id and cfg.filename and cfg.revision and cfg.paper
        assert license_part in cfg.license
    _, amused = get_pretrained_cfg("amused_vq_f16.amused_256")
    assert amused.filename == "vqvae/diffusion_pytorch_model.safetensors"
    assert len(amused.revision) == 40
