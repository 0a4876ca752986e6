"""Fixtures for the training tests."""

from pathlib import Path

import pytest
from training_helpers import write_photos


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory) -> Path:
    """Four real photos (64 x 48 px) shared by the tests of this folder."""
    return write_photos(tmp_path_factory.mktemp("photos"))
