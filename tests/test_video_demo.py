"""python -m zoo.video_demo: a real clip in, the original and its reconstruction side by side
out (GIF or MP4), the code size printed; existing outputs kept without --overwrite."""

from pathlib import Path

import pytest
from PIL import Image

from zoo.data.video import decode_video
from zoo.video_demo import main

CLIP = Path(__file__).parent / "fixtures" / "video" / "pan_coffee_17f_64.mp4"


def test_side_by_side_gif_and_mp4(tmp_path, capsys):
    gif = tmp_path / "pair.gif"
    assert main([str(CLIP), "--model", "causal3d_test", "--random-init", "--out", str(gif)]) == 0
    printed = capsys.readouterr().out
    assert "5 frames of 16x16" in printed and "bpp" in printed and "kbps" in printed
    with Image.open(gif) as im:
        assert im.size == (32, 16) and im.n_frames == 5  # original | reconstruction
    mp4 = tmp_path / "pair.mp4"
    argv = [str(CLIP), "--model", "causal3d_test", "--random-init", "--frames", "8", "--size",
            "32", "--out", str(mp4)]  # fmt: skip
    assert main(argv) == 0
    assert decode_video(mp4).shape == (5, 32, 64, 3)  # 8 frames cut to 5 (1 + 4k)
    before = mp4.read_bytes()
    with pytest.raises(SystemExit, match="already exists; pass --overwrite"):
        main(argv)
    assert mp4.read_bytes() == before


def test_bad_requests_are_named(tmp_path):
    with pytest.raises(SystemExit, match=r"must end in \.mp4 or \.gif"):
        main([str(CLIP), "--random-init", "--model", "causal3d_test", "--out", "x.avi"])
    with pytest.raises(SystemExit, match="is a image tokenizer, not a video one"):
        main([str(CLIP), "--random-init", "--model", "vqgan_test", "--out",
              str(tmp_path / "a.gif")])  # fmt: skip
    text = tmp_path / "not_a_video.mp4"
    text.write_text("hello")
    with pytest.raises(SystemExit, match="not_a_video.mp4"):
        main([str(text), "--random-init", "--model", "causal3d_test", "--out",
              str(tmp_path / "b.gif")])  # fmt: skip
