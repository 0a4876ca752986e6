"""``python -m zoo list / info``: registry contents without downloading anything."""

from __future__ import annotations

from zoo.__main__ import main


def test_info_shows_source_revision_license_paper_bits_and_resolution(capsys):
    assert main(["info", "llamagen_vq_f16.c2i"]) == 0
    out = capsys.readouterr().out
    for part in (
        "hf-hub:FoundationVision/LlamaGen vq_ds16_c2i.pt (upstream format, converted on load)",
        "license           MIT",
        "arXiv:2406.06525",
        "bits per image    3584",
        "resolution        256",
        "rfid 2.19",
    ):
        assert part in out, (part, out)


def test_info_of_an_architecture_uses_its_default_tag_or_says_random(capsys):
    assert main(["info", "janus_vq_f16"]) == 0
    out = capsys.readouterr().out
    assert "janus_vq_f16.deepseek" in out and "960ab33191f61342a4c60ae74d8dc356a39fafcb" in out
    assert main(["info", "vqgan_test"]) == 0
    assert "random init (no weights registered)" in capsys.readouterr().out


def test_list_pretrained_shows_modality_and_license(capsys):
    assert main(["list", "llamagen*", "--pretrained"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert any(r.startswith("llamagen_vq_f8.c2i") and " image " in r and " MIT " in r for r in rows)
    assert main(["list", "nothing*"]) == 0
    assert "no tokenizer matches" in capsys.readouterr().out


def test_unknown_name_is_an_error(capsys):
    assert main(["info", "llamagen_vq_f32"]) == 2
    assert "Closest registered names" in capsys.readouterr().err
