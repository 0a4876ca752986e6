"""DAC port: numerical parity with transformers' ``DacModel`` (random weights, real speech at
16 kHz), the checkpoint converters (transformers and descript-audio-codec layouts, every form of
weight norm), and the published architectures."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch.nn.utils import parametrize
from transformers import DacConfig, DacModel

import zoo
from zoo.pretrained import load_pretrained_weights
from zoo.registry import PretrainedCfg, get_pretrained_cfg
from zoo.tokenizers.audio import dac as dac_module
from zoo.tokenizers.audio.dac import DACCodec, convert_dac_state_dict, dac_rvq
from zoo.tokenizers.audio.seanet_codec import Snake1d

SR = 16000
NUM_CODEBOOKS, CODEBOOK_SIZE, CODEBOOK_DIM = 4, 64, 4


def _reference(strides: list[int], seed: int = 0) -> DacModel:
    """A tiny transformers DAC with random, non-trivial weights and weight norm applied.

    transformers' init (std 0.02 convs, zero biases, unit Snake alphas) makes the output ~0 and
    the latents nearly constant, so parity would be trivial: convs get PyTorch's default init,
    small random biases, weight-norm magnitudes near 1 (0.2-0.4 inside residual units, so the
    residual stacks do not blow up), Snake frequencies in [0.5, 2], unit-normal codebooks.
    """
    torch.manual_seed(seed)
    cfg = DacConfig(
        encoder_hidden_size=4,
        downsampling_ratios=strides,
        decoder_hidden_size=48,
        n_codebooks=NUM_CODEBOOKS,
        codebook_size=CODEBOOK_SIZE,
        codebook_dim=CODEBOOK_DIM,
        sampling_rate=SR,
    )
    ref = DacModel(cfg)
    with torch.no_grad():
        for module in ref.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                module.reset_parameters()
                module.bias.uniform_(-0.01, 0.01)
            elif isinstance(module, torch.nn.Embedding):
                module.weight.normal_()
            elif hasattr(module, "alpha"):
                module.alpha.uniform_(0.5, 2.0)
        ref.apply_weight_norm()
        for name, p in ref.named_parameters():
            if name.endswith("original0"):
                p.uniform_(*((0.2, 0.4) if "res_unit" in name else (0.8, 1.2)))
    return ref.eval()


def _zoo_for(strides: list[int]) -> DACCodec:
    return zoo.create_tokenizer("dac_test", strides=strides, decoder_dim=48, encoder_dim=4).eval()


@pytest.fixture(scope="module")
def speech(load_speech):
    x = load_speech(SR)[..., : SR + 123]  # 1 s of real speech, not a whole number of frames
    assert float(x.abs().max()) > 0.1
    return x


def _pad_to_hop(x: torch.Tensor, hop: int) -> torch.Tensor:
    return F.pad(x, (0, -x.shape[-1] % hop))  # upstream DAC.preprocess


# ---------------------------------------------------------------------- parity
@pytest.mark.parametrize("strides", [[2, 4, 5], [3, 2, 4]])
def test_codes_and_audio_match_transformers(strides, speech):
    ref = _reference(strides)
    tok = _zoo_for(strides)
    tok.load_state_dict(convert_dac_state_dict(ref.state_dict(), tok))
    hop = math.prod(strides)
    assert tok.hop_length == hop and tok.sample_rate == SR

    with torch.no_grad():
        enc = ref.encode(_pad_to_hop(speech, hop))
        codes = tok.tokenize(speech)
        assert torch.equal(codes, enc.audio_codes.transpose(1, 2))
        assert codes.shape == (1, math.ceil(speech.shape[-1] / hop), NUM_CODEBOOKS)
        for level in range(NUM_CODEBOOKS):  # the parity is not trivial
            assert len(codes[..., level].unique()) >= 8

        prev = None
        for k in range(1, NUM_CODEBOOKS + 1):
            assert torch.equal(tok.tokenize(speech, num_codebooks=k), codes[..., :k])
            ref_codes = ref.encode(_pad_to_hop(speech, hop), n_quantizers=k).audio_codes
            assert torch.equal(ref_codes, codes[..., :k].transpose(1, 2))
            want = ref.decode(audio_codes=codes[..., :k].transpose(1, 2)).audio_values
            got = tok.detokenize(codes[..., :k])
            n = want.shape[-1]
            assert n == codes.shape[1] * hop - tok.decoder_shortfall
            assert got.shape == (1, 1, codes.shape[1] * hop)
            assert float((got[:, 0, :n] - want).abs().max()) <= 1e-4
            assert torch.equal(got[..., n:], torch.zeros_like(got[..., n:]))
            assert float(want.std()) > 0.05
            if prev is not None:
                assert float((got - prev).abs().max()) > 0.01
            prev = got


def test_training_forward_matches_transformers_losses_and_gradients(speech):
    strides = [2, 4, 5]
    ref = _reference(strides)
    tok = _zoo_for(strides)
    tok.load_state_dict(convert_dac_state_dict(ref.state_dict(), tok))
    x = speech[..., : 200 * tok.hop_length]

    out = tok(x)
    ref_out = ref(x)
    n = ref_out.audio_values.shape[-1]
    assert float((out.reconstruction[:, 0, :n] - ref_out.audio_values).abs().max().detach()) <= 1e-4
    # DAC's encode loss: 0.25 * commitment + 1.0 * codebook, summed over levels.
    torch.testing.assert_close(out.quantizer.loss, ref_out.loss.reshape(()), rtol=1e-4, atol=1e-6)

    def objective(audio, loss):
        return audio[..., :n].square().mean() + loss.sum()

    objective(out.reconstruction[:, 0], out.quantizer.loss).backward()
    objective(ref_out.audio_values, ref_out.loss).backward()
    pairs = {
        "encoder.layers.0.conv.parametrizations.weight.original1": (
            "encoder.conv1.parametrizations.weight.original1"
        ),
        "quantizer.levels.1.codebook": "quantizer.quantizers.1.codebook.weight",
        "quantizer.levels.0.project_in.parametrizations.weight.original0": (
            "quantizer.quantizers.0.in_proj.parametrizations.weight.original0"
        ),
        "decoder.layers.3.block.2.alpha": "decoder.block.0.res_unit1.snake2.alpha",
    }
    ours, theirs = dict(tok.named_parameters()), dict(ref.named_parameters())
    for mine, upstream in pairs.items():
        g_ours, g_ref = ours[mine].grad, theirs[upstream].grad
        assert float(g_ref.abs().max()) > 0, upstream
        torch.testing.assert_close(g_ours.reshape(g_ref.shape), g_ref, rtol=1e-3, atol=1e-6)


# ---------------------------------------------------------------------- converter layouts
def _plain_weights(ref: DacModel) -> dict[str, torch.Tensor]:
    """State dict with weight norm removed (``weight`` instead of ``original0/1``)."""
    sd = {k: v for k, v in ref.state_dict().items() if ".parametrizations." not in k}
    with torch.no_grad():
        for name, module in ref.named_modules():
            if parametrize.is_parametrized(module, "weight"):
                sd[f"{name}.weight"] = module.weight.clone()
    return sd


def _legacy_names(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {
        k.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v"
        ): v
        for k, v in sd.items()
    }


def _descript_names(sd: dict[str, torch.Tensor], num_strides: int) -> dict[str, torch.Tensor]:
    """transformers -> descript-audio-codec names, from the nn.Sequential layout of upstream
    ``dac/model/dac.py`` (Encoder.block, EncoderBlock.block, Decoder.model, DecoderBlock.block,
    ResidualUnit.block)."""
    n = num_strides
    unit = {"snake1": 0, "conv1": 1, "snake2": 2, "conv2": 3}
    top = {"conv1": 0, "snake1": n + 1, "conv2": n + 2}
    out = {}
    for key, value in sd.items():
        new = key
        if m := re.match(r"^(encoder|decoder)\.block\.(\d+)\.(\w+)\.(.+)$", key):
            side, b, part, rest = m.groups()
            seq, j = ("encoder.block" if side == "encoder" else "decoder.model"), int(b) + 1
            if part.startswith("res_unit"):
                k = int(part[-1]) - 1 if side == "encoder" else int(part[-1]) + 1
                inner, param = rest.split(".", 1)
                new = f"{seq}.{j}.block.{k}.block.{unit[inner]}.{param}"
            else:
                own = (
                    {"snake1": 3, "conv1": 4} if side == "encoder" else {"snake1": 0, "conv_t1": 1}
                )
                new = f"{seq}.{j}.block.{own[part]}.{rest}"
        elif m := re.match(r"^(encoder|decoder)\.(conv1|snake1|conv2)\.(.+)$", key):
            side, part, rest = m.groups()
            seq = "encoder.block" if side == "encoder" else "decoder.model"
            new = f"{seq}.{top[part]}.{rest}"
        out[new] = value
    return out


@pytest.fixture(scope="module")
def reference_and_codes(speech):
    ref = _reference([2, 4, 5])
    x = _pad_to_hop(speech, 40)
    with torch.no_grad():
        codes = ref.encode(x).audio_codes.transpose(1, 2)
        audio = ref.decode(audio_codes=codes.transpose(1, 2)).audio_values
    return ref, x, codes, audio


@pytest.mark.parametrize("layout", ["parametrized", "legacy", "plain", "descript"])
def test_converter_reads_every_layout(layout, reference_and_codes):
    ref, x, codes, audio = reference_and_codes
    sd = ref.state_dict()
    if layout == "legacy":
        sd = _legacy_names(sd)
    elif layout == "plain":
        sd = _plain_weights(ref)
        assert "encoder.conv1.weight" in sd
    elif layout == "descript":
        sd = {
            "state_dict": _descript_names(_legacy_names(sd), 3),
            "metadata": {
                "kwargs": {
                    "encoder_rates": [2, 4, 5],
                    "decoder_rates": [5, 4, 2],
                    "sample_rate": SR,
                }
            },
        }
        assert "encoder.block.1.block.0.block.1.weight_g" in sd["state_dict"]
        assert "decoder.model.3.block.4.block.3.bias" in sd["state_dict"]
    tok = _zoo_for([2, 4, 5])
    tok.load_state_dict(convert_dac_state_dict(sd, tok))  # strict
    with torch.no_grad():
        assert torch.equal(tok.tokenize(x), codes)
        got = tok.detokenize(codes)[:, 0, : audio.shape[-1]]
    assert float((got - audio).abs().max()) <= 1e-4


def test_converter_errors_name_the_problem(reference_and_codes):
    ref = reference_and_codes[0]
    tok = _zoo_for([2, 4, 5])
    sd = ref.state_dict()

    missing = {k: v for k, v in sd.items() if k != "decoder.block.1.res_unit2.snake1.alpha"}
    with pytest.raises(ValueError, match=r"model keys not filled \['decoder\.layers\.9\.block\.0"):
        convert_dac_state_dict(missing, tok)
    extra = dict(sd, **{"encoder.block.0.res_unit4.conv1.bias": torch.zeros(4)})
    with pytest.raises(ValueError, match=r"unrecognised upstream keys \['encoder\.block\.0\.res"):
        convert_dac_state_dict(extra, tok)
    with pytest.raises(ValueError, match="does not match this architecture"):
        convert_dac_state_dict(sd, zoo.create_tokenizer("dac_test", quantizer_kwargs=dac_rvq(3)))
    with pytest.raises(ValueError, match="shape mismatch"):
        convert_dac_state_dict(sd, zoo.create_tokenizer("dac_test", decoder_dim=96))
    with pytest.raises(ValueError, match="raw_codeword=True"):
        convert_dac_state_dict(
            sd,
            zoo.create_tokenizer("dac_test", quantizer="fsq", quantizer_kwargs={"levels": [3, 3]}),
        )
    wrapped = {"state_dict": sd, "metadata": {"kwargs": {"encoder_rates": [2, 4, 8, 8]}}}
    with pytest.raises(ValueError, match="trained with .*encoder_rates"):
        convert_dac_state_dict(wrapped, tok)


@pytest.mark.parametrize("fmt", ["safetensors", "pth"])
def test_registered_converter_loads_checkpoint_files(
    fmt, reference_and_codes, tmp_path, monkeypatch
):
    ref, x, codes, _ = reference_and_codes
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    name = f"dac_tiny.{fmt}"
    path = tmp_path / "checkpoints" / name
    if fmt == "safetensors":
        save_file(_plain_weights(ref), str(path))
    else:
        sd = _descript_names(_legacy_names(ref.state_dict()), 3)
        torch.save({"state_dict": sd, "metadata": {"kwargs": {"sample_rate": SR}}}, path)
    cfg = PretrainedCfg(
        url=f"https://example.invalid/{name}", filename=name, converter="convert_dac_checkpoint"
    )
    tok = _zoo_for([2, 4, 5])
    load_pretrained_weights(tok, cfg, name="dac_test.local", module=dac_module)
    with torch.no_grad():
        assert torch.equal(tok.eval().tokenize(x), codes)


# ---------------------------------------------------------------------- published variants
def test_pretrained_cfgs_are_registered():
    names = set(zoo.list_tokenizers("dac*", pretrained=True))
    for rate in ("16khz", "24khz", "44khz"):
        tag, cfg = get_pretrained_cfg(f"dac_{rate}")
        assert tag == "descript" and cfg.hub_id == f"descript/dac_{rate}"
        assert cfg.converter == "convert_dac_checkpoint" and cfg.filename == "model.safetensors"
        assert callable(getattr(dac_module, cfg.converter))
    assert {"dac_16khz.descript_v0_0_5", "dac_44khz_16kbps.descript_v1_0_0"} <= names
    _, cfg = get_pretrained_cfg("dac_16khz.descript_v0_0_5")
    assert cfg.url.endswith("/0.0.5/weights_16khz.pth") and cfg.sample_rate == 16000


@pytest.mark.parametrize(
    ("name", "rate", "strides", "codebooks", "latent"),
    [
        ("dac_16khz", 16000, [2, 4, 5, 8], 12, None),
        ("dac_24khz", 24000, [2, 4, 5, 8], 32, None),
        ("dac_44khz", 44100, [2, 4, 8, 8], 9, None),
    ],
)
def test_published_architectures_match_transformers(name, rate, strides, codebooks, latent):
    with torch.device("meta"):
        tok = zoo.create_tokenizer(name)
        ref = DacModel(
            DacConfig(downsampling_ratios=strides, n_codebooks=codebooks, sampling_rate=rate)
        )
        ref.apply_weight_norm()
    hop = math.prod(strides)
    assert (tok.sample_rate, tok.hop_length, tok.num_codebooks) == (rate, hop, codebooks)
    assert tok.frame_rate == rate / hop and not tok.causal
    assert tok.bitrate() == pytest.approx(rate / hop * codebooks * 10)
    assert tok.decoder_shortfall == (8 if 5 in strides else 0)
    assert any(isinstance(m, Snake1d) for m in tok.modules())
    ours = {k: v.shape for k, v in tok.state_dict().items() if not k.endswith("cluster_size")}
    theirs = {k: v.shape for k, v in ref.state_dict().items()}
    assert len(ours) == len(theirs)
    assert sum(math.prod(s) for s in ours.values()) == sum(math.prod(s) for s in theirs.values())


def test_16kbps_variant_has_a_narrow_latent():
    with torch.device("meta"):
        tok = zoo.create_tokenizer("dac_44khz_16kbps")
    assert tok.dimension == 128 and tok.num_codebooks == 18
    assert tok.quantizer.levels[0].project_in.parametrizations.weight.original1.shape == (8, 128)


def test_bad_decoder_width_is_explained():
    with pytest.raises(ValueError, match="decoder_dim=50 must be divisible by"):
        zoo.create_tokenizer("dac_test", decoder_dim=50)
