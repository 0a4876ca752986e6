"""No data is lost or overwritten by accident: atomic saves (even under kill -9), re-saves that
replace every file, no URL checkpoints, and command-line tools that never write over their inputs
nor over existing files without --overwrite."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch

import zoo
from zoo import _io
from zoo.training.module import TokenizerModule

ROOT = Path(__file__).resolve().parents[2]
MODEL = "seanet_test"


def _tokenizer(value: float):
    tok = zoo.create_tokenizer(MODEL)
    with torch.no_grad():
        for p in tok.parameters():
            p.fill_(value)
    return tok


def _first_weight(folder: Path) -> float:
    return float(next(iter(zoo.load(folder).parameters())).detach().flatten()[0])


def _litter(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name != folder.name)


# ------------------------------------------------------------------------------- atomic saves
def test_failed_save_keeps_the_previous_save(tmp_path, monkeypatch):
    folder = tmp_path / "tok"
    _tokenizer(1.0).save_pretrained(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_model", broken)
    with pytest.raises(OSError, match="disk full"):
        _tokenizer(2.0).save_pretrained(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # config.json included
    assert _first_weight(folder) == 1.0
    assert _litter(folder) == []


def test_resave_replaces_every_file_and_keeps_other_files(tmp_path):
    folder = tmp_path / "tok"
    _tokenizer(1.0).save_pretrained(folder, model_card_kwargs={"description": "first save"})
    (folder / "notes.txt").write_text("mine")
    _tokenizer(2.0).save_pretrained(folder, model_card_kwargs={"description": "second save"})
    card = (folder / "README.md").read_text()
    assert "second save" in card and "first save" not in card
    assert _first_weight(folder) == 2.0
    assert (folder / "notes.txt").read_text() == "mine"
    assert _litter(folder) == []
    # A folder holding only a previous save is swapped whole.
    (folder / "notes.txt").unlink()
    _tokenizer(3.0).save_pretrained(folder)
    assert _first_weight(folder) == 3.0 and _litter(folder) == []


_KILLED_SAVE = """
import sys, time
import safetensors.torch, torch, zoo

tok = zoo.create_tokenizer(sys.argv[2])
with torch.no_grad():
    for p in tok.parameters():
        p.fill_(2.0)

def slow_save(model, filename, *args, **kwargs):
    with open(filename, "wb") as f:
        f.write(b"half a weights file")
    print("writing", filename, flush=True)
    time.sleep(120)

safetensors.torch.save_model = slow_save
tok.save_pretrained(sys.argv[1])
"""


def test_kill_9_during_save_keeps_the_previous_save(tmp_path):
    folder = tmp_path / "tok"
    _tokenizer(1.0).save_pretrained(folder)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_SAVE, str(folder), MODEL],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()  # the save is in the middle of writing the weights
        assert line.startswith("writing"), line
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _first_weight(folder) == 1.0  # config.json, weights and card of the last save
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    # What the killed save leaves is its own recognisable temporary folder ...
    (left,) = _litter(folder)
    assert left.startswith(f".tok.tmp-{proc.pid}-")
    # ... which the next save removes.
    _tokenizer(3.0).save_pretrained(folder)
    assert _first_weight(folder) == 3.0 and _litter(folder) == []


def test_atomic_file_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "r.json"
    _io.atomic_write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        _io.atomic_write_json(path, {"a": object()})
    with pytest.raises(RuntimeError), _io.atomic_file(path) as tmp:
        tmp.write_text('{"a": ')
        raise RuntimeError("crash while writing")
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


# ------------------------------------------------------------------------------- checkpoints
def test_checkpoint_urls_are_refused():
    for url in ("https://example.com/last.ckpt", "http://x/y.ckpt", "s3://bucket/last.ckpt"):
        with pytest.raises(ValueError, match="is a URL; only local files are read"):
            TokenizerModule.load_from_checkpoint(url)
        with pytest.raises(SystemExit, match="is a URL"):
            from zoo.training import export

            export._main([url, "out"])
    assert _io.refuse_urls("runs/last.ckpt") == "runs/last.ckpt"


def test_no_torch_load_without_weights_only_true():
    offenders = []
    for folder in ("zoo", "eval", "benchmarks", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                calls = ("torch.load(", "load_from_checkpoint(", "pl_load(", "_load(")
                if any(c in line for c in calls) and "weights_only=False" in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{n}")
                if "torch.load(" in line and "weights_only=True" not in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert not offenders, offenders


def _train_args(tmp_path: Path) -> list[str]:
    import numpy as np
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(np.full((48, 48, 3), 40 * i, np.uint8)).save(photos / f"{i}.png")
    return [
        "fit",
        "--config", str(ROOT / "configs" / "image" / "vqgan_cpu_f8.yaml"),
        "--config", str(ROOT / "configs" / "trainer" / "cpu_smoke.yaml"),
        "--model.tokenizer_args", json.dumps({"image_size": 32, "ch": 8, "z_channels": 8}),
        "--data.train_cache", "null",
        "--data.train_dir", str(photos), "--data.val_dir", str(photos),
        "--data.crop_size", "32", "--data.min_short_side", "32", "--data.max_short_side", "48",
        "--data.val_short_side", "40",
    ]  # fmt: skip


def test_train_refuses_url_checkpoints_and_existing_exports(tmp_path, monkeypatch):
    import importlib.util

    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("zoo_train_script", ROOT / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    args = _train_args(tmp_path)
    with pytest.raises(SystemExit, match="--ckpt_path 'https://example.com/last.ckpt' is a URL"):
        train.cli_main([*args, "--ckpt_path", "https://example.com/last.ckpt"])
    export = tmp_path / "export"
    _tokenizer(1.0).save_pretrained(export)
    with pytest.raises(SystemExit, match="already exist; pass --export_overwrite true"):
        train.cli_main([*args, "--export_dir", str(export)])
    assert _first_weight(export) == 1.0


# ------------------------------------------------------------------------------- command lines
def _eval_script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"zoo_eval_{name}", ROOT / "eval" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_eval_runners_never_write_over_inputs_or_existing_files(tmp_path):
    reconstruct, rd, compare, card = (
        _eval_script(n) for n in ("reconstruct", "rate_distortion", "compare", "to_model_card")
    )
    result = tmp_path / "r.json"
    result.write_text('{"schema": "tokenizer-zoo/reconstruction/v1"}\n')
    notes = tmp_path / "notes.md"
    notes.write_text("my notes\n")
    before = _snapshot(tmp_path)
    base = ["--model", MODEL, "--random-init", "--data", "speech", "--no-progress"]
    # --out r.md would have held the JSON, then the Markdown over it.
    with pytest.raises(SystemExit, match=r"--out .*r\.md' must end in \.json: --out r\.json"):
        reconstruct.main([*base, "--out", str(tmp_path / "r.md")])
    # --out notes.json would have written over the unrelated notes.md next to it.
    with pytest.raises(SystemExit, match=r"notes\.md' already exists; pass --overwrite"):
        reconstruct.main([*base, "--out", str(tmp_path / "notes.json")])
    # The reconstructions never go into the data folder.
    data = tmp_path / "clips"
    data.mkdir()
    with pytest.raises(SystemExit, match="overlaps the data folder"):
        reconstruct.main([*base[:-2], str(data), "--save-reconstructions", str(data / "rec"),
                          "--out", str(tmp_path / "new.json")])  # fmt: skip
    # Inputs are never outputs, even with --overwrite.
    with pytest.raises(SystemExit, match=r"r\.json' is the input"):
        rd.main(["--results", str(result), "--out", str(result), "--overwrite"])
    with pytest.raises(SystemExit, match=r"must end in \.md"):
        compare.main([str(result), "--out", str(result), "--overwrite"])
    with pytest.raises(SystemExit, match=r"r\.json' is the input"):
        card.main([str(result), "--out", str(result), "--overwrite"])
    with pytest.raises(SystemExit, match=r"notes\.md' already exists"):
        compare.main([str(result), "--out", str(notes)])
    with pytest.raises(SystemExit, match=r"notes\.md' already exists"):
        card.main([str(result), "--out", str(tmp_path / "notes.json")])
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / "new.json").exists() and not (data / "rec").exists()


def test_codec_cli_never_destroys_the_source_audio(tmp_path, capsys):
    from zoo import codec

    src = tmp_path / "a.flac"
    src.write_bytes((ROOT / "tests" / "fixtures" / "speech_front_center_24k.flac").read_bytes())
    original = src.read_bytes()

    def refused(argv: list[str], message: str) -> None:
        assert codec._main(argv) == 2
        assert re.search(message, capsys.readouterr().err)

    refused(["encode", str(src), str(src), "--overwrite"], r"a\.flac' is the input")
    link = tmp_path / "link.flac"
    os.link(src, link)  # the same file under another name
    with pytest.raises(_io.OutputPathError, match="is the input"):
        codec.encode_file(src, link, overwrite=True)
    tokens = tmp_path / "a.tokens.safetensors"
    tokens.write_bytes(b"an older token file")
    refused(["encode", str(src), str(tokens)], "already exists; pass --overwrite")
    refused(["decode", str(tokens), str(src)], r"a\.flac' already exists; pass --overwrite")
    assert src.read_bytes() == original and tokens.read_bytes() == b"an older token file"


def test_export_and_demo_refuse_existing_outputs(tmp_path):
    from zoo import demo
    from zoo.training import export

    folder = tmp_path / "tok"
    _tokenizer(1.0).save_pretrained(folder)
    ckpt = tmp_path / "last.ckpt"
    ckpt.write_bytes(b"not read: the check comes first")
    with pytest.raises(SystemExit, match="already exist; pass --overwrite to replace them"):
        export._main([str(ckpt), str(folder)])
    with pytest.raises(_io.OutputPathError, match="is the input"):
        export.export_checkpoint(str(folder / "model.safetensors"), str(folder), overwrite=True)
    assert _first_weight(folder) == 1.0
    image = tmp_path / "demo.png"
    image.write_bytes(b"my picture")
    with pytest.raises(SystemExit, match=r"demo\.png' already exists; pass --overwrite"):
        demo.main(["--out", str(image)])
    assert image.read_bytes() == b"my picture"


def test_output_checks(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a")
    _io.check_output_paths([b], inputs=[a])
    with pytest.raises(_io.OutputPathError, match="is the input"):
        _io.check_output_paths([tmp_path / "." / "a.txt"], inputs=[a], overwrite=True)
    (tmp_path / "sym.txt").symlink_to(a)
    with pytest.raises(_io.OutputPathError, match="is the input"):
        _io.check_output_paths([tmp_path / "sym.txt"], inputs=[a], overwrite=True)
    with pytest.raises(_io.OutputPathError, match="two outputs of this command are the same"):
        _io.check_output_paths([b, tmp_path / "b.txt"])
    with pytest.raises(_io.OutputPathError, match="already exists; pass --flag"):
        _io.check_output_paths([a], flag="--flag")
    _io.check_output_paths([a], overwrite=True)


def test_result_writers_go_through_the_atomic_helpers():
    """Result writers of zoo/evaluation and eval/ write through zoo._io (no direct writes), and
    only zoo/_io.py renames files into place (no private copies of the helper)."""
    offenders = []
    direct = re.compile(r"\.write_text\(|\.write_bytes\(|(?<![.\w])open\([^)]*[\"'][wa]b?[\"']")
    saves = re.compile(r"\.savefig\(|\.save\(|sf\.write\(|save_file\(")
    to_temp = re.compile(r"\((tmp|buf)\b")
    writers = [*(ROOT / "zoo" / "evaluation").glob("*.py"), *(ROOT / "eval").glob("*.py")]
    for path in sorted(writers):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if direct.search(line) or (saves.search(line) and not to_temp.search(line)):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    renames = re.compile(r"os\.replace\(|\.replace\(\w*tmp")
    for folder in ("zoo", "eval"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name != "_io.py" and renames.search(path.read_text()):
                offenders.append(f"{path.relative_to(ROOT)}: renames files itself")
    assert not offenders, offenders


def test_atomic_dir_without_the_one_step_swap(tmp_path, monkeypatch):
    """Where renameat2(RENAME_EXCHANGE) is missing, the old folder goes aside and the new one in;
    a writer killed between the two renames is repaired by the next write."""
    monkeypatch.setattr(_io, "_exchange", lambda a, b: False)
    folder = tmp_path / "tok"
    _tokenizer(1.0).save_pretrained(folder)
    _tokenizer(2.0).save_pretrained(folder)
    assert _first_weight(folder) == 2.0 and _litter(folder) == []
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    aside = tmp_path / f".tok.old-{int(dead.stdout)}-0123abcd"
    folder.rename(aside)  # the state a kill between the two renames leaves
    new = tmp_path / f".tok.tmp-{int(dead.stdout)}-4567abcd"
    new.mkdir()
    _io.clean_stale_temporaries(folder)
    assert _first_weight(folder) == 2.0 and _litter(folder) == []


def test_export_is_atomic_and_keeps_other_files(tmp_path):
    import lightning
    import safetensors.torch

    from zoo.training.export import export_checkpoint

    module = TokenizerModule(tokenizer=MODEL)
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": lightning.__version__}  # fmt: skip
    module.on_save_checkpoint(ckpt)
    run = tmp_path / "run"
    run.mkdir()
    torch.save(ckpt, run / "last.ckpt")
    export_checkpoint(str(run / "last.ckpt"), str(run), half=True)  # next to the checkpoint
    weights = safetensors.torch.load_file(run / "model.safetensors")
    assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float16}
    assert zoo.load(run).architecture == MODEL
    export_checkpoint(str(run / "last.ckpt"), str(run), overwrite=True)
    kept = torch.load(run / "last.ckpt", weights_only=True)
    assert kept["hyper_parameters"]["tokenizer"] == MODEL
    assert sorted(p.name for p in run.iterdir()) == [
        "README.md", "config.json", "last.ckpt", "model.safetensors"
    ]  # fmt: skip
    assert _litter(run) == []


def test_saved_files_are_readable_like_any_new_file(tmp_path):
    """safetensors creates its file owner-only (0o600); a save, an export or a cache written
    through zoo._io gets the permissions of a new file (0o666 less the umask), and a replaced
    file keeps its own."""
    import os
    import stat

    from safetensors.torch import save_file

    from zoo._io import atomic_file

    umask = os.umask(0o022)
    try:
        zoo.create_tokenizer("seanet_test").save_pretrained(tmp_path / "m")
        assert stat.S_IMODE((tmp_path / "m" / "model.safetensors").stat().st_mode) == 0o644
        with atomic_file(tmp_path / "w.safetensors") as tmp:
            save_file({"a": torch.zeros(2)}, str(tmp))
        assert stat.S_IMODE((tmp_path / "w.safetensors").stat().st_mode) == 0o644
        os.chmod(tmp_path / "w.safetensors", 0o640)
        with atomic_file(tmp_path / "w.safetensors") as tmp:
            save_file({"a": torch.ones(2)}, str(tmp))
        assert stat.S_IMODE((tmp_path / "w.safetensors").stat().st_mode) == 0o640
    finally:
        os.umask(umask)
