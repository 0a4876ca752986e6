"""Codebook usage / perplexity / entropy over a whole set, and bits per image and pixel."""

import math

import pytest
import torch

import zoo
from zoo.metrics import CodebookUsage, bits_per_image, bits_per_pixel


def test_known_distributions():
    # Codebook of 8 entries; codes use entries 0..3 equally: 2 bits, perplexity 4, usage 1/2.
    m = CodebookUsage(codebook_size=8)
    m.update(torch.tensor([[[0], [1], [2], [3]], [[3], [2], [1], [0]]]))
    out = m.compute()
    assert out["codebook_usage"] == 0.5
    assert out["codes_used"] == 4
    assert out["code_entropy_bits"] == pytest.approx(2.0)
    assert out["perplexity"] == pytest.approx(4.0)
    assert out["max_entropy_bits"] == 3.0
    assert out["num_codes"] == 8
    # A skewed distribution: p = (3/4, 1/4).
    m = CodebookUsage(codebook_size=4)
    m.update(torch.tensor([[[0], [0], [0], [1]]]))
    h = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert m.compute()["code_entropy_bits"] == pytest.approx(h)
    assert m.compute()["perplexity"] == pytest.approx(2**h)


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_whole_set_not_per_batch_and_multiple_codebooks():
    # Each batch uses one entry only; over the set both are used.
    m = CodebookUsage(codebook_size=2, num_codebooks=2)
    m.update(torch.tensor([[[0, 1], [0, 1]]]))
    m.update(torch.tensor([[[1, 1], [1, 1]]]))
    out = m.compute()
    # Codebook 0 saw {0, 0, 1, 1} (1 bit); codebook 1 saw {1, 1, 1, 1} (0 bits): averaged.
    assert out["code_entropy_bits"] == pytest.approx(0.5)
    assert out["codebook_usage"] == pytest.approx(0.75)
    assert out["perplexity"] == pytest.approx((2 + 1) / 2)
    m.reset()
    with pytest.raises(RuntimeError, match="before any update"):
        m.compute()


def test_huge_codebooks_count_sparsely_with_the_same_result(monkeypatch):
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 50, (4, 16, 2), generator=g)
    dense = CodebookUsage(codebook_size=1 << 20, num_codebooks=2)
    monkeypatch.setattr(CodebookUsage, "dense_limit", 8)
    sparse = CodebookUsage(codebook_size=1 << 20, num_codebooks=2)
    assert dense.dense and not sparse.dense
    for m in (dense, sparse):
        m.update(codes[:2])
        m.update(codes[2:])
    assert sparse.compute() == pytest.approx(dense.compute())


def test_code_errors():
    m = CodebookUsage(codebook_size=4, num_codebooks=1)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        m.update(torch.tensor([[[4]]]))
    with pytest.raises(ValueError, match=r"\(B, \.\.\., 1\)"):
        m.update(torch.zeros(2, 3, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="integer codes"):
        m.update(torch.zeros(2, 3, 1))
    with pytest.raises(ValueError, match=">= 1"):
        CodebookUsage(codebook_size=0)


def test_bits_from_the_tokenizers_accounting():
    flex = zoo.create_tokenizer("titok_test").eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    codes = flex.tokenize(x, num_tokens=3)
    assert bits_per_image(flex, codes) == pytest.approx(flex.bits_per_item(3))
    assert bits_per_image(flex, codes) == pytest.approx(3 * math.log2(1000))
    grid = zoo.create_tokenizer("vqgan_test").eval()
    assert bits_per_image(grid, grid.tokenize(x)) == pytest.approx(grid.bits_per_item())
    # At another resolution a 2D tokenizer makes another grid: tokens x bits per token.
    big = grid.tokenize(torch.rand(1, 3, 64, 64) * 2 - 1)
    assert bits_per_image(grid, big) == pytest.approx(16 * 16 * math.log2(60))
    assert bits_per_pixel(1024, 32, 32) == 1.0
