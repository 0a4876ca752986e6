"""Test-session settings shared by every test module."""

import os

import torch

# Under pytest-xdist each worker gets one intra-op thread: two workers with two OpenMP threads
# each oversubscribe a 2-core machine and spin-wait, which slows some tests by 10-50x.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
