"""Classical codecs: the quality search hits a byte budget within 5% on real photos."""

import numpy as np
import pytest
import skimage.data
from PIL import Image

from zoo.evaluation.baselines.images import available_codecs, decode, encode, get_codec, match_rate


def _photo(arr: np.ndarray, size: int = 128) -> np.ndarray:
    img = Image.fromarray(arr)
    s = size / min(img.size)
    img = img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.BICUBIC)
    return np.array(img.crop((0, 0, size, size)).convert("RGB"))


PHOTOS = {
    "astronaut": _photo(skimage.data.astronaut()),
    "coffee": _photo(skimage.data.coffee()),
    "rocket": _photo(skimage.data.rocket()),
}


@pytest.mark.parametrize("codec", available_codecs())
@pytest.mark.parametrize("photo", sorted(PHOTOS))
def test_search_hits_target_bytes_within_5_percent(codec, photo):
    img = PHOTOS[photo]
    c = get_codec(codec)
    lo, hi = len(encode(c, img, 20)), len(encode(c, img, 80))
    for target in np.geomspace(lo * 1.05, hi * 0.95, 3):
        m = match_rate(codec, img, target, tolerance=0.05)
        assert m.reachable and m.within_tolerance, (codec, photo, target, m.num_bytes, m.quality)
        assert abs(m.num_bytes - target) <= 0.05 * target
        assert len(m.data) == m.num_bytes
        assert c.quality_min <= m.quality <= c.quality_max
        # The stored bytes decode to the photo's size.
        assert decode(m.data).shape == img.shape


def test_coding_at_lower_resolution_reaches_lower_rates():
    img = PHOTOS["coffee"]
    full, half = encode("jpeg", img, 10), encode("jpeg", img, 10, scale=0.5)
    assert len(half) < 0.6 * len(full)
    assert decode(half).shape == (64, 64, 3)
    assert decode(half, size=(128, 128)).shape == img.shape
    target = len(encode("webp", img, 30, scale=0.5)) * 1.02
    m = match_rate("webp", img, target, scale=0.5)
    assert m.within_tolerance and decode(m.data).shape == (64, 64, 3)
    with pytest.raises(ValueError, match=r"scale must lie in \(0, 1\]"):
        encode("jpeg", img, 50, scale=2)


def test_unreachable_targets_report_the_extreme_quality():
    img = PHOTOS["astronaut"]
    tiny = match_rate("jpeg", img, 50)  # 400 bits: below any JPEG file of a 128 px photo
    assert not tiny.reachable and not tiny.within_tolerance
    assert tiny.quality == 1 and tiny.num_bytes > 50
    huge = match_rate("webp", img, 10_000_000)
    assert not huge.reachable and huge.quality == 100


def test_codec_errors():
    with pytest.raises(ValueError, match="unknown codec"):
        get_codec("jpeg2000")
    with pytest.raises(ValueError, match=r"RGB uint8 image \(H, W, 3\)"):
        encode("jpeg", PHOTOS["coffee"].astype(np.float32), 50)
    with pytest.raises(ValueError, match="must be positive"):
        match_rate("jpeg", PHOTOS["coffee"], 0)
    assert {"jpeg", "webp"} <= set(available_codecs())
