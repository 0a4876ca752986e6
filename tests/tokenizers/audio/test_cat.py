"""Causal transformer codec: the KV-cached transformer streams exactly, causality of every
output, and the windowed attention."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.tokenizers.audio.base import StreamState
from zoo.tokenizers.audio.cat import CausalTransformer


@pytest.mark.parametrize("context", [None, 1, 5, 64])
@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_kv_cached_stream_equals_whole_sequence(context, chunk):
    tr = CausalTransformer(dim=16, depth=2, num_heads=2, mlp_ratio=2.0, context=context).eval()
    x = torch.randn(2, 23, 16)
    with torch.no_grad():
        full = tr(x)
        out, state = [], None
        for s in range(0, x.shape[1], chunk):
            y, state = tr.stream(x[:, s : s + chunk], state)
            out.append(y)
    torch.testing.assert_close(torch.cat(out, 1), full, rtol=1e-5, atol=1e-6)
    if context is not None:  # bounded state: never more than context - 1 cached frames
        assert all(k.shape[2] <= context - 1 for k, _ in state["cache"])


@pytest.mark.parametrize("context", [None, 4])
def test_outputs_depend_only_on_the_window_of_the_past(context):
    tr = CausalTransformer(dim=8, depth=2, num_heads=2, mlp_ratio=2.0, context=context).eval()
    x = torch.randn(1, 20, 8, requires_grad=True)
    tr(x)[0, 12].sum().backward()
    touched = (x.grad[0].abs().sum(-1) > 0).nonzero().flatten().tolist()
    # Two blocks of window w reach back 2 * (w - 1) frames.
    first = 0 if context is None else 12 - 2 * (context - 1)
    assert touched == list(range(first, 13))


def test_codec_streams_latents_and_audio_exactly(load_speech):
    torch.manual_seed(0)
    tok = zoo.create_tokenizer("cat_test").eval()
    x = load_speech(8000)[..., 2000:2301]
    with torch.no_grad():
        z = tok.encode(x)
        codes = tok.tokenize(x)
        audio = tok.detokenize(codes)
        # encoder latents, not only (coarse FSQ) codes, match when streamed
        state, got = StreamState(), []
        for s in range(0, x.shape[-1], 11):
            got.append(tok._encode_chunk(x[..., s : s + 11], state, s + 11 >= x.shape[-1]))
    torch.testing.assert_close(torch.cat(got, 1), z, rtol=1e-5, atol=1e-6)
    assert z.shape[1] == codes.shape[1] == -(-x.shape[-1] // tok.hop_length)
    got_audio, st = [], None
    for t in range(0, codes.shape[1], 3):
        a, st = tok.detokenize_stream(codes[:, t : t + 3], st, final=t + 3 >= codes.shape[1])
        got_audio.append(a)
    torch.testing.assert_close(torch.cat(got_audio, -1), audio, rtol=1e-5, atol=1e-6)


def test_decoder_is_causal_in_tokens():
    torch.manual_seed(0)
    tok = zoo.create_tokenizer("cat_test").eval()
    q = torch.randn(1, 10, tok.dimension, requires_grad=True)
    out = tok.decode(q)
    hop = tok.hop_length
    out[0, 0, 4 * hop : 5 * hop].sum().backward()  # samples of token 4
    touched = (q.grad[0].abs().sum(-1) > 0).nonzero().flatten().tolist()
    assert touched and max(touched) == 4


def test_configuration_and_errors():
    tok = zoo.create_tokenizer("cat_24khz_fsq")
    assert (tok.sample_rate, tok.hop_length, tok.frame_rate) == (24000, 320, 75.0)
    assert tok.supported_num_codebooks() == [1, 2, 3, 4] and tok.causal
    assert tok.codebook_size == 8**3 * 5**3
    with pytest.raises(ValueError, match="context"):
        zoo.create_tokenizer("cat_test", context=0)
    with pytest.raises(ValueError, match="patch_size"):
        zoo.create_tokenizer("cat_test", patch_size=0)
    # any quantizer: a single VQ
    vq = zoo.create_tokenizer("cat_test", quantizer="vq", quantizer_kwargs={"codebook_size": 32})
    assert vq.supported_num_codebooks() == [1]
