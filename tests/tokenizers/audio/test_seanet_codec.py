"""SEANet codec: EnCodec parity (random weights, real speech), the EnCodec converter's key
layouts, and the published architectures' sizes and rates."""

from __future__ import annotations

import re

import pytest
import torch
from encodec import EncodecModel

import zoo
from zoo.registry import get_pretrained_cfg
from zoo.tokenizers.audio.seanet_codec import (
    Snake1d,
    convert_encodec_checkpoint,
    convert_encodec_state_dict,
)

# The encodec package builds its convs with the deprecated torch.nn.utils.weight_norm.
pytestmark = pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")


@pytest.fixture(scope="module")
def encodec_pair(load_speech):
    """The encodec package's 24 kHz model with random weights and data-fitted random codebooks,
    and the zoo's ``encodec_24khz`` filled by the converter."""
    torch.manual_seed(0)
    ref = EncodecModel.encodec_model_24khz(pretrained=False).eval()
    x = load_speech(24000)
    # Upstream codebooks are zeros until k-means runs in a training pass, which on one short clip
    # would make every code 0. Instead each level gets random codewords around its residuals'
    # mean with half their per-channel spread: codes vary from frame to frame and level to
    # level, residuals shrink slowly (never to float noise), and the nearest codeword wins by a
    # relative distance margin of > 1e-5 everywhere, so float rounding cannot flip a code.
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        z = ref.encoder(x)
        residual = z.transpose(1, 2).reshape(-1, z.shape[1])
        for layer in ref.quantizer.vq.layers:
            cb = layer._codebook
            noise = torch.randn(1024, residual.shape[1], generator=gen)
            embed = residual.mean(0) + 0.5 * residual.std(0) * noise
            cb.embed.copy_(embed)
            cb.embed_avg.copy_(embed)
            cb.inited.fill_(1)
            residual = residual - cb.decode(cb.encode(residual))
    tok = zoo.create_tokenizer("encodec_24khz").eval()
    tok.load_state_dict(convert_encodec_state_dict(ref.state_dict(), tok), strict=True)
    return ref, tok, x


def test_encodec_parity_codes_and_audio_on_real_speech(encodec_pair):
    ref, tok, x = encodec_pair
    with torch.no_grad():
        frames = ref.encode(x)
        ref_codes = frames[0][0].transpose(1, 2)  # upstream (B, K, T) -> ours (B, T, K)
        ref_audio = ref.decode(frames)
        codes = tok.tokenize(x)
        audio = tok.detokenize(codes)
    assert codes.shape == (1, x.shape[-1] // 320, 32)
    assert torch.equal(codes, ref_codes)
    # Non-trivial: codes vary over time at the first, a middle and the last level.
    for level in (0, 15, 31):
        assert codes[0, :, level].unique().numel() > 30
    assert audio.shape == ref_audio.shape
    assert (audio - ref_audio).abs().max() <= 1e-4
    assert ref_audio.abs().max() > 1e-2  # not a silent output


@pytest.mark.parametrize("k", [2, 8])
def test_encodec_parity_at_lower_bandwidths(encodec_pair, k):
    ref, tok, x = encodec_pair
    ref.set_target_bandwidth(k * 0.75)  # 0.75 kbps per codebook at 75 Hz
    try:
        with torch.no_grad():
            frames = ref.encode(x)
            codes = tok.tokenize(x, num_codebooks=k)
            assert torch.equal(codes, frames[0][0].transpose(1, 2))
            assert (tok.detokenize(codes) - ref.decode(frames)).abs().max() <= 1e-4
    finally:
        ref.bandwidth = None
    assert tok.bitrate(k) == pytest.approx(k * 750)


def test_encodec_streaming_matches_whole_clip(encodec_pair):
    _, tok, x = encodec_pair
    x = x[..., :9600]
    codes = tok.tokenize(x)
    got, state = [], None
    for start in range(0, x.shape[-1], 2000):
        chunk = x[..., start : start + 2000]
        c, state = tok.tokenize_stream(chunk, state, final=start + 2000 >= x.shape[-1])
        got.append(c)
    assert torch.equal(torch.cat(got, 1), codes)


def _transformers_layout(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The encodec package's keys renamed as transformers' EncodecModel names them."""
    out = {}
    for k, v in sd.items():
        k = re.sub(r"^(encoder|decoder)\.model\.", r"\1.layers.", k)
        k = k.replace("conv.conv.", "conv.").replace("convtr.convtr.", "conv.")
        k = k.replace("quantizer.vq.layers.", "quantizer.layers.").replace("_codebook", "codebook")
        out[k] = v
    return out


def test_converter_accepts_transformers_and_parametrized_layouts(encodec_pair, tmp_path):
    ref, tok, _ = encodec_pair
    sd = ref.state_dict()
    want = convert_encodec_state_dict(sd, tok)
    hf = _transformers_layout(sd)
    assert "encoder.layers.0.conv.weight_g" in hf and "quantizer.layers.0.codebook.embed" in hf
    got = convert_encodec_state_dict(hf, tok)
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    # Newer transformers save parametrized weight norm.
    param = {
        k.replace("weight_g", "parametrizations.weight.original0").replace(
            "weight_v", "parametrizations.weight.original1"
        ): v
        for k, v in hf.items()
    }
    got = convert_encodec_state_dict(param, tok)
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert bool(got["quantizer.levels.0.initted"]) and got["quantizer.levels.0.initted"].ndim == 0
    # The PretrainedCfg path: a safetensors file on disk.
    import safetensors.torch

    path = tmp_path / "model.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in hf.items()}, str(path))
    got = convert_encodec_checkpoint(str(path), tok)
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_converter_rejects_another_architecture(encodec_pair):
    ref, _, _ = encodec_pair
    small = zoo.create_tokenizer("seanet_test")
    with pytest.raises(ValueError, match="does not match this architecture"):
        convert_encodec_state_dict(ref.state_dict(), small)
    tok = zoo.create_tokenizer("encodec_24khz", lstm_layers=1)
    with pytest.raises(ValueError, match="does not match this architecture"):
        convert_encodec_state_dict(ref.state_dict(), tok)


def test_encodec_pretrained_cfgs_are_registered():
    names = zoo.list_tokenizers("encodec*", pretrained=True)
    assert {"encodec_24khz.facebook", "encodec_24khz.meta_v0"} <= set(names)
    tag, cfg = get_pretrained_cfg("encodec_24khz")
    assert tag == "facebook" and cfg.hub_id == "facebook/encodec_24khz"
    assert cfg.converter == "convert_encodec_checkpoint" and cfg.sample_rate == 24000


def test_published_architectures():
    enc = zoo.create_tokenizer("encodec_24khz")
    assert (enc.sample_rate, enc.hop_length, enc.frame_rate) == (24000, 320, 75.0)
    assert (enc.num_codebooks, enc.codebook_size, enc.causal) == (32, 1024, True)
    assert enc.supported_num_codebooks() == list(range(1, 33))
    assert [enc.bitrate(k) for k in (2, 4, 8, 16, 32)] == [1500, 3000, 6000, 12000, 24000]
    n = sum(p.numel() for p in enc.parameters() if p.requires_grad)
    ref = EncodecModel.encodec_model_24khz(pretrained=False)
    assert n == sum(p.numel() for p in ref.parameters())  # same network, codebooks are buffers
    dac = zoo.create_tokenizer("dac_16khz")
    assert (dac.sample_rate, dac.hop_length, dac.frame_rate) == (16000, 320, 50.0)
    assert (dac.num_codebooks, dac.codebook_size, dac.causal) == (12, 1024, False)
    assert dac.bitrate() == 6000
    assert any(isinstance(m, Snake1d) for m in dac.modules())
    assert 70e6 < sum(p.numel() for p in dac.parameters()) < 78e6  # DAC reports ~74M


def test_snake_matches_its_formula():
    snake = Snake1d(3)
    with torch.no_grad():
        snake.alpha.copy_(torch.tensor([0.5, 1.0, 2.0]).view(1, 3, 1))
    x = torch.linspace(-2, 2, 9).expand(1, 3, 9)
    a = snake.alpha
    torch.testing.assert_close(snake(x), x + torch.sin(a * x) ** 2 / a)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="pad_mode"):
        zoo.create_tokenizer("seanet_test", pad_mode="circular")
    with pytest.raises(ValueError, match="activation"):
        zoo.create_tokenizer("seanet_test", activation="swishy")
    with pytest.raises(ValueError, match="latent width"):
        zoo.create_tokenizer(
            "seanet_test", quantizer="fsq", quantizer_kwargs={"levels": [5, 5], "dim": 3}
        )
    with pytest.raises(ValueError, match="strides"):
        zoo.create_tokenizer("seanet_test", strides=[])
    # Any registered quantizer works: FSQ over the 8-d latents.
    tok = zoo.create_tokenizer("seanet_test", quantizer="fsq", quantizer_kwargs={"levels": [5] * 8})
    assert tok.quantizer.dim == 8 and tok.supported_num_codebooks() == [1]
