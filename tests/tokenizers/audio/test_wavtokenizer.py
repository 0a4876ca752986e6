"""WavTokenizer: Vocos backbone + inverse-STFT head parity with the ``vocos`` package, the whole
codec against a reference assembled from ``encodec`` + ``vocos`` modules (what the authors'
model is made of), and the published configurations."""

from __future__ import annotations

import pytest
import torch
from encodec.modules import SEANetEncoder as RefEncoder
from encodec.quantization import ResidualVectorQuantizer
from vocos.heads import ISTFTHead as RefHead
from vocos.models import VocosBackbone as RefBackbone

import zoo
from zoo.tokenizers.audio.wavtokenizer import (
    ISTFTHead,
    convert_vocos_state_dict,
    convert_wavtokenizer_state_dict,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")


def _randomize_(module: torch.nn.Module, scale: float = 0.2) -> None:
    """Perturb every parameter (layer scales, norms, biases too) so nothing is at its identity
    initialisation and parity exercises every weight."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))


def _latents(load_speech, tok, dim):
    """Decoder input: the (random) encoder's latents of real speech, unit variance."""
    x = load_speech(tok.sample_rate)[..., : 40 * tok.hop_length]
    with torch.no_grad():
        z = tok.encoder(x)[:, :dim]
    return (z - z.mean()) / z.std()


@pytest.mark.parametrize("adanorm", [None, 4])
def test_vocos_backbone_and_istft_head_parity(load_speech, adanorm):
    overrides = dict(
        decoder_dim=64, decoder_intermediate_dim=192, decoder_layers=3, attention=False
    )
    tok = zoo.create_tokenizer("wavtokenizer_75hz", **overrides).eval()
    backbone = RefBackbone(
        input_channels=512,
        dim=64,
        intermediate_dim=192,
        num_layers=3,
        adanorm_num_embeddings=adanorm,
    ).eval()
    head = RefHead(dim=64, n_fft=1280, hop_length=320, padding="same").eval()
    _randomize_(backbone)
    _randomize_(head, scale=0.02)
    sd = convert_vocos_state_dict(backbone.state_dict(), head.state_dict(), tok)
    missing, unexpected = tok.load_state_dict(sd, strict=False)
    assert not unexpected and all(not k.startswith("decoder.") for k in missing)

    z = _latents(load_speech, tok, 512)
    with torch.no_grad():
        kw = {} if adanorm is None else {"bandwidth_id": torch.tensor([0])}
        want = head(backbone(z, **kw))
        got = tok.decoder(z)
    assert got.shape == (1, 1, z.shape[-1] * 320) and want.shape == (1, z.shape[-1] * 320)
    assert want.abs().max() > 1e-2
    torch.testing.assert_close(got[:, 0], want, rtol=1e-4, atol=1e-5)


def test_whole_codec_against_encodec_and_vocos_modules(load_speech):
    """WavTokenizer = EnCodec's SEANet encoder + a 1-level RVQ + Vocos backbone (AdaLayerNorm)
    + ISTFT head; the authors' key layout is rebuilt from those modules and converted."""
    torch.manual_seed(0)
    tok = zoo.create_tokenizer(
        "wavtokenizer_test",
        attention=False,
        sample_rate=24000,
        decoder_dim=16,
        decoder_intermediate_dim=32,
    ).eval()
    enc = RefEncoder(
        channels=1,
        dimension=8,
        n_filters=4,
        ratios=[4, 2],
        causal=False,
        lstm=1,
        norm="weight_norm",
        pad_mode="reflect",
    ).eval()
    rvq = ResidualVectorQuantizer(dimension=8, n_q=1, bins=64).eval()
    backbone = RefBackbone(
        input_channels=8, dim=16, intermediate_dim=32, num_layers=2, adanorm_num_embeddings=4
    ).eval()
    head = RefHead(dim=16, n_fft=32, hop_length=8, padding="same").eval()
    _randomize_(backbone)
    _randomize_(head, scale=0.05)
    x = load_speech(24000)[..., 4000:8000]
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        z = enc(x)
        frames = z.transpose(1, 2).reshape(-1, 8)
        cb = rvq.vq.layers[0]._codebook
        embed = frames.mean(0) + 0.5 * frames.std(0) * torch.randn(64, 8, generator=gen)
        cb.embed.copy_(embed)
        cb.embed_avg.copy_(embed)
        cb.inited.fill_(1)
    upstream = {}
    for prefix, module in (
        ("feature_extractor.encodec.encoder.", enc),
        ("feature_extractor.encodec.quantizer.", rvq),
        ("backbone.", backbone),
        ("head.", head),
    ):
        upstream.update({prefix + k: v for k, v in module.state_dict().items()})
    upstream["feature_extractor.encodec.decoder.model.0.conv.conv.bias"] = torch.zeros(3)
    tok.load_state_dict(convert_wavtokenizer_state_dict(upstream, tok), strict=True)

    with torch.no_grad():
        ref_codes = rvq.encode(z, 3000, None)[0]  # (B, T) of the only level
        ref_audio = head(backbone(rvq.decode(ref_codes[None]), bandwidth_id=torch.tensor([0])))
        codes = tok.tokenize(x)
        audio = tok.detokenize(codes)
    assert torch.equal(codes[..., 0], ref_codes)
    assert codes.unique().numel() > 10
    torch.testing.assert_close(audio[:, 0], ref_audio, rtol=1e-4, atol=1e-5)


def test_converter_errors_name_the_mismatch():
    # with attention: pos_net keys expected
    tok = zoo.create_tokenizer("wavtokenizer_test", decoder_dim=16, decoder_intermediate_dim=32)
    backbone = RefBackbone(input_channels=8, dim=16, intermediate_dim=32, num_layers=2)
    head = RefHead(dim=16, n_fft=32, hop_length=8)
    with pytest.raises(ValueError, match="pos_net|attention="):
        convert_vocos_state_dict(backbone.state_dict(), head.state_dict(), tok)
    tok = zoo.create_tokenizer(
        "wavtokenizer_test", attention=False, n_fft=24, decoder_dim=16, decoder_intermediate_dim=32
    )
    with pytest.raises(ValueError, match="shape mismatch"):
        convert_vocos_state_dict(backbone.state_dict(), head.state_dict(), tok)


def test_istft_head_inverts_an_stft():
    """With a linear layer that passes log-magnitude and phase through, the head inverts
    torch.stft of a real signal (same Hann window, 'same' framing) exactly in the interior."""
    n_fft, hop, t = 64, 16, 40
    head = ISTFTHead(dim=n_fft + 2, n_fft=n_fft, hop_length=hop)
    with torch.no_grad():
        head.out.weight.copy_(torch.eye(n_fft + 2))
        head.out.bias.zero_()
    gen = torch.Generator().manual_seed(0)
    signal = 0.1 * torch.randn(1, t * hop + n_fft, generator=gen)
    pad = (n_fft - hop) // 2
    spec = torch.stft(
        signal, n_fft, hop, window=torch.hann_window(n_fft), center=False, return_complex=True
    )[..., :t]
    feats = torch.cat([spec.abs().clamp_min(1e-9).log(), spec.angle()], dim=1).transpose(1, 2)
    with torch.no_grad():
        y = head(feats)
    assert y.shape == (1, t * hop)
    inner = slice(n_fft, t * hop - n_fft)  # away from the ends the envelope is complete
    torch.testing.assert_close(
        y[:, inner], signal[:, pad : pad + t * hop][:, inner], atol=1e-5, rtol=0
    )


def test_published_configurations():
    for name, rate, hop, n_fft in (
        ("wavtokenizer_75hz", 75, 320, 1280),
        ("wavtokenizer_40hz", 40, 600, 2400),
    ):
        tok = zoo.create_tokenizer(name)
        assert (tok.sample_rate, tok.hop_length, tok.frame_rate) == (24000, hop, rate)
        assert (tok.num_codebooks, tok.codebook_size) == (1, 4096)
        assert tok.decoder.head.n_fft == n_fft and tok.supports_streaming is False
        assert tok.bitrate() == pytest.approx(rate * 12)
        assert tok.decoder.backbone.pos_net is not None
    tag_names = zoo.list_tokenizers("wavtokenizer*", pretrained=True)
    assert "wavtokenizer_75hz.speech_large" in tag_names
    for n_fft in (4, 21):  # shorter than the hop; odd overlap (no symmetric 'same' padding)
        with pytest.raises(ValueError, match="n_fft"):
            zoo.create_tokenizer("wavtokenizer_test", n_fft=n_fft)
