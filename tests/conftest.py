"""Test-session settings shared by every test module."""

import os

import torch

# Under pytest-xdist each worker gets one intra-op thread: two workers with two OpenMP threads
# each oversubscribe a 2-core machine and spin-wait, which slows some tests by 10-50x.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

# Converted upstream checkpoints are cached (zoo.hub.conversion_cache_dir): keep the tests' own
# conversions out of the user's ~/.cache.
if not os.environ.get("ZOO_CACHE_DIR"):
    import atexit
    import shutil
    import tempfile

    os.environ["ZOO_CACHE_DIR"] = tempfile.mkdtemp(prefix="zoo-test-cache-")
    atexit.register(shutil.rmtree, os.environ["ZOO_CACHE_DIR"], ignore_errors=True)
