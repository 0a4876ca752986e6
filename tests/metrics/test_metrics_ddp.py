"""Metrics under 2-process CPU DDP (gloo): each rank sees half the images; the results equal one
process seeing all of them (Fréchet statistics, shared references, codebook counts, PSNR)."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from zoo.metrics import PSNR, CodebookUsage, FeatureExtractor, FrechetDistance


class _Pooled(FeatureExtractor):
    feature_dim = 12

    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x.float() / 255, 2).flatten(1)

    def describe(self):
        return {"network": "pooled colour"}


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (8, 3, 16, 16), generator=g, dtype=torch.uint8)
    y = (x.float() + 20 * torch.randn(x.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    codes = torch.randint(0, 10, (8, 5, 1), generator=g)
    return x, y, codes


def _measure(x, y, codes):
    ext = _Pooled()
    ref = FrechetDistance(extractor=ext, key="fd", label="FD")
    other = FrechetDistance(extractor=ext, key="fd", label="FD", real_from=ref)
    psnr, usage = PSNR(), CodebookUsage(codebook_size=10)
    ref.update(y, x)
    other.update(x.flip(-1))
    psnr.update(y, x)
    usage.update(codes)
    # `other` first: its reference must be all-reduced although ref.compute() has not run.
    return [float(other.compute()), float(ref.compute()), float(psnr.compute())] + [
        usage.compute()[k] for k in ("codebook_usage", "code_entropy_bits", "num_codes")
    ]


def _worker(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        x, y, codes = _data()
        half = slice(4 * rank, 4 * rank + 4)
        out[rank] = _measure(x[half], y[half], codes[half])
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_two_process_ddp_equals_one_process():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    manager = mp.Manager()
    out = manager.dict()
    mp.spawn(_worker, args=(port, out), nprocs=2, join=True)
    want = _measure(*_data())
    for rank in (0, 1):
        assert out[rank] == pytest.approx(want, rel=1e-9)
