"""Regression tests for the defects the fuzz tests (``test_fuzz_*.py``) found, one per defect,
each with the input that failed and the clear behaviour that replaced the obscure one."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.quantizers import create_quantizer
from zoo.quantizers.base import get_quantizer_class


@pytest.mark.parametrize("name", zoo.list_quantizers())
def test_decoding_zero_codes_gives_zero_vectors(name):
    # Was: RuntimeError "cannot reshape tensor of 0 elements into shape [0, -1, k]".
    q = create_quantizer(name, **get_quantizer_class(name).example_kwargs).eval()
    if q.requires_fit:
        q.fit(torch.randn(64, q.dim))
    for lead in [(0,), (0, 3), (2, 0), (0, 0, 5)]:
        codes = torch.zeros(*lead, q.num_codebooks, dtype=torch.long)
        out = q.decode(codes)
        assert out.shape == (*lead, q.dim) and out.dtype == torch.float32


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("dimwise", {"dim": 2**31}),
        ("fsq", {"levels": [3, 3], "dim": 2**31}),
        ("vq", {"dim": 2**29, "codebook_size": 2}),
    ],
)
def test_absurd_dims_are_refused_before_allocating(name, kwargs):
    # Was: an attempt to allocate 8-48 GiB (a RuntimeError from the allocator, or the OOM killer).
    with pytest.raises(ValueError, match=r"dim=\d+ channels per token is more than any latent"):
        create_quantizer(name, **kwargs)
