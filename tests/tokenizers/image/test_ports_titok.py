"""Upstream single-stage TiTok (bytedance/1d-tokenizer ``titok_*_vq8k``): the converter fills our
TiTok key for key from the upstream layout and gives the upstream numbers.

There is no pip-installable TiTok, so the reference here is a short re-implementation of the
upstream forward pass written from ``modeling/titok.py`` and ``modeling/modules/blocks.py``
(``TiTokEncoder`` / ``TiTokDecoder`` with ``is_legacy=False``, ``ResidualAttentionBlock`` on
``nn.MultiheadAttention``, ``VectorQuantizer`` with ``use_l2_norm=False``), with upstream's module
names, so its ``state_dict()`` is the layout ``PyTorchModelHubMixin`` publishes
(``model.safetensors`` + ``config.json``). Upstream reads images in [0, 1]; the zoo in [-1, 1].
The default test narrows the ViTs (same structure); the published sizes run under ``-m slow``.
"""

from __future__ import annotations

import json
from collections import OrderedDict

import pytest
import safetensors.torch
import torch
from einops.layers.torch import Rearrange
from ports_common import TOL, max_abs_diff, photos, randomize_
from torch import nn

import zoo
from zoo.registry import get_pretrained_cfg
from zoo.tokenizers.image import titok


class Block(nn.Module):
    """Upstream ``ResidualAttentionBlock`` (sequence-first ``nn.MultiheadAttention``)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                c_fc=nn.Linear(width, 4 * width), gelu=nn.GELU(), c_proj=nn.Linear(4 * width, width)
            )
        )

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class ViT(nn.Module):
    def __init__(self, width: int, depth: int, heads: int, grid: int, tokens: int) -> None:
        super().__init__()
        self.class_embedding = nn.Parameter(torch.randn(1, width))
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, width))
        self.latent_token_positional_embedding = nn.Parameter(torch.randn(tokens, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = nn.ModuleList(Block(width, heads) for _ in range(depth))
        self.ln_post = nn.LayerNorm(width)

    def run(self, x):
        x = self.ln_pre(x).permute(1, 0, 2)  # NLD -> LND
        for block in self.transformer:
            x = block(x)
        return x.permute(1, 0, 2)


class UpstreamTiTok(nn.Module):
    """The upstream single-stage TiTok forward, images in [0, 1]."""

    def __init__(self, *, size, patch, tokens, token_size, enc, dec, codebook_size) -> None:
        super().__init__()
        self.grid, self.tokens = size // patch, tokens
        self.latent_tokens = nn.Parameter(torch.randn(tokens, enc[0]))
        self.encoder = ViT(*enc, self.grid, tokens)
        self.encoder.patch_embed = nn.Conv2d(3, enc[0], patch, stride=patch)
        self.encoder.conv_out = nn.Conv2d(enc[0], token_size, 1)
        self.decoder = ViT(*dec, self.grid, tokens)
        self.decoder.decoder_embed = nn.Linear(token_size, dec[0])
        self.decoder.mask_token = nn.Parameter(torch.randn(1, 1, dec[0]))
        self.decoder.ffn = nn.Sequential(
            nn.Conv2d(dec[0], patch * patch * 3, 1),
            Rearrange("b (p1 p2 c) h w -> b c (h p1) (w p2)", p1=patch, p2=patch),
        )
        self.decoder.conv_out = nn.Conv2d(3, 3, 3, padding=1)
        self.quantize = nn.Module()
        self.quantize.embedding = nn.Embedding(codebook_size, token_size)

    def latents(self, x01):
        e, b = self.encoder, x01.shape[0]
        x = e.patch_embed(x01).flatten(2).transpose(1, 2)
        x = torch.cat([e.class_embedding.expand(b, 1, -1), x], 1) + e.positional_embedding
        lat = (self.latent_tokens + e.latent_token_positional_embedding).expand(b, -1, -1)
        x = e.run(torch.cat([x, lat], 1))[:, 1 + self.grid**2 :]
        x = e.ln_post(x).reshape(b, self.tokens, -1, 1).permute(0, 2, 1, 3)  # is_legacy=False
        return e.conv_out(x).flatten(2).transpose(1, 2)  # (B, K, token_size)

    def encode(self, x01):
        z = self.latents(x01)
        w = self.quantize.embedding.weight
        d = (z**2).sum(-1, keepdim=True) + (w**2).sum(-1) - 2 * z @ w.T
        return d.argmin(-1)

    def decode(self, codes):
        d, b = self.decoder, codes.shape[0]
        x = d.decoder_embed(self.quantize.embedding(codes)) + d.latent_token_positional_embedding
        masks = d.mask_token.expand(b, self.grid**2, -1)
        masks = torch.cat([d.class_embedding.expand(b, 1, -1), masks], 1) + d.positional_embedding
        x = d.ln_post(d.run(torch.cat([masks, x], 1))[:, 1 : 1 + self.grid**2])
        x = x.permute(0, 2, 1).reshape(b, -1, self.grid, self.grid)
        return d.conv_out(d.ffn(x))


SMALL = dict(size=64, patch=16, tokens=16, token_size=16, enc=(64, 2, 4), dec=(96, 2, 4))
SMALL_OVERRIDES = dict(
    image_size=64, num_latent_tokens=16, token_dim=16, encoder_width=64, encoder_depth=2,
    encoder_heads=4, decoder_width=96, decoder_depth=2, decoder_heads=4,
)  # fmt: skip


def reference(seed: int, **sizes) -> UpstreamTiTok:
    torch.manual_seed(seed)
    ref = randomize_(UpstreamTiTok(codebook_size=8192, **sizes), seed)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if "embedding" in name or "token" in name:  # position / class / mask / latent tokens
                p.mul_(0.5)
        z = ref.latents((photos(sizes["size"]) + 1) / 2)  # codewords spread like the latents
        w = torch.randn(ref.quantize.embedding.weight.shape)
        ref.quantize.embedding.weight.copy_(z.mean((0, 1)) + z.std((0, 1)) * w)
    return ref.eval()


def publish(ref: UpstreamTiTok, folder) -> None:
    """The ``PyTorchModelHubMixin`` layout: ``model.safetensors`` + upstream's ``config.json``."""
    folder.mkdir()
    sd = {k: v.contiguous() for k, v in ref.state_dict().items()}
    safetensors.torch.save_file(sd, folder / "model.safetensors")
    config = {"model": {"vq_model": {"codebook_size": 8192, "is_legacy": False}}}
    (folder / "config.json").write_text(json.dumps(config))


def check(ref: UpstreamTiTok, tag: str, folder, size: int, **overrides) -> float:
    publish(ref, folder)
    tok = zoo.load(tag, checkpoint_path=folder, **overrides)
    x = photos(size)
    with torch.no_grad():
        codes = ref.encode((x + 1) / 2)
        want = ref.decode(codes) * 2 - 1
        ours = tok.tokenize(x)
        ours_x = tok.detokenize(ours)
    assert torch.equal(ours[..., 0], codes)
    assert codes.unique().numel() > codes.numel() // 3  # not a degenerate code map
    diff = max_abs_diff(ours_x, want)
    assert diff < TOL, diff
    return diff


def test_titok_vq8k_from_the_upstream_hub_folder(tmp_path):
    check(reference(0, **SMALL), "titok_bl64_vq8k.in1k", tmp_path / "up", 64, **SMALL_OVERRIDES)


@pytest.mark.slow
def test_titok_bl64_vq8k_published_configuration(tmp_path):
    sizes = dict(size=256, patch=16, tokens=64, token_size=64, enc=(768, 12, 12))
    check(reference(1, dec=(1024, 24, 16), **sizes), "titok_bl64_vq8k.in1k", tmp_path / "up", 256)


def test_legacy_and_mismatched_checkpoints_are_refused():
    ref = reference(0, **SMALL)
    tok = zoo.create_tokenizer("titok_bl64_vq8k", **SMALL_OVERRIDES)
    legacy = {**ref.state_dict(), "decoder.ffn.2.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match="legacy two-stage"):
        titok.convert_titok_state_dict(legacy, tok)
    other = zoo.create_tokenizer("titok_bl64_vq8k", **dict(SMALL_OVERRIDES, decoder_depth=3))
    with pytest.raises(ValueError, match=r"keys not filled .*decoder\.transformer\.blocks\.2"):
        titok.convert_titok_state_dict(ref.state_dict(), other)


def test_published_tags():
    for name, rfid, bits in (
        ("titok_bl64_vq8k.in1k", 2.06, 64 * 13),
        ("titok_bl128_vq8k.in1k", 1.49, 128 * 13),
        ("titok_sl256_vq8k.in1k", 1.03, 256 * 13),
    ):
        _, cfg = get_pretrained_cfg(name)
        assert cfg.converter == "convert_titok_checkpoint" and cfg.metrics["rfid"] == rfid
        assert cfg.hub_id.startswith("yucornetto/tokenizer_titok_") and cfg.license == "Apache-2.0"
        with torch.device("meta"):
            assert zoo.create_tokenizer(name.split(".")[0]).bits_per_item() == bits
