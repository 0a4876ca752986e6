"""The CPU-scale speech + music corpus, built from audio that Debian packages install.

``build`` needs Debian packages as its sources (the MIDI renders also need a SoundFont;
``--no-midi`` leaves the last three out) and stops, naming what is missing, without them::

    apt-get install -y --no-install-recommends tuxpaint-stamps-default warzone2100-music \\
        wesnoth-1.16-music timgm6mb-soundfont openttd-openmsx planetblupi-music-midi
    python -m zoo.data.audio_corpus build data/audio --sample-rate 16000
    python -m zoo.data.audio_corpus speech-eval data/audio data/speech_eval   # ~4 s speech clips

writes mono 16-bit FLAC at the target rate into ``OUT/{train,val}/{speech,music,midi}/`` and a
``manifest.json`` (source path, licence, split group, duration of every file). The zoo itself
reads any folder or webdataset shards; this module only assembles the sources named in
DATA.md, with a fixed seed:

- **speech**: Tux Paint's spoken stamp descriptions (``*_desc_<lang>.ogg``, real human
  recordings, 14 languages, GPL-2). Validation holds out whole *languages* (``--val-languages``),
  never clips of a training language.
- **music**: Warzone 2100 (Opus, 48 kHz stereo, GPL-2/CC-BY-SA) and Battle for Wesnoth (Vorbis,
  GPL-2) soundtracks, one ``--music-seconds`` excerpt per track from a seeded offset.
- **midi**: OpenTTD OpenMSX and Planet Blupi MIDI files rendered with the TimGM6mb
  sampled-instrument bank (GPL-2) by ``midirenderer`` (a SoundFont synthesizer in a pip wheel,
  no program to install), trailing silence trimmed. Until 2026-12-08 they were rendered by the
  FluidSynth program (the shipped ``seanet_cpu_16khz.speech_music`` trained on those renders).

Music and MIDI validation holds out whole *tracks* (every ``--val-every``-th track in a seeded
order). Files that cannot be decoded are listed in the manifest under ``skipped`` with the
reason (nothing is dropped silently).
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import random
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from zoo._argtypes import float_in, int_in
from zoo._io import atomic_file, atomic_write_json
from zoo.data.audio import _language, read_audio, resample

TUXPAINT = "/usr/share/tuxpaint/stamps/**/*_desc*.ogg"
WARZONE = "/usr/share/games/warzone2100/music/**/*.opus"
WESNOTH = "/usr/share/games/wesnoth/1.16/data/core/music/*.ogg"
MIDI = ("/usr/share/games/openttd/baseset/openmsx/*.mid", "/usr/share/planetblupi/music/*.mid")
SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"
LICENSES = {
    "tuxpaint": "GPL-2.0 (Tux Paint stamps)",
    "warzone2100": "GPL-2.0-or-later / CC-BY-SA-3.0 (Warzone 2100 music)",
    "wesnoth": "GPL-2.0-or-later (Battle for Wesnoth music)",
    "openttd-openmsx": "GPL-2.0 (OpenMSX), rendered with TimGM6mb (GPL-2.0)",
    "planetblupi": "GPL-3.0 (Planet Blupi), rendered with TimGM6mb (GPL-2.0)",
}
DEFAULT_VAL_LANGUAGES = ("lt", "nl", "ml")
#: Debian package -> what ``build`` needs from it (a glob of source files, or a file).
PACKAGES = {
    "tuxpaint-stamps-default": TUXPAINT,
    "warzone2100-music": WARZONE,
    "wesnoth-1.16-music": WESNOTH,
}
MIDI_PACKAGES = {
    "timgm6mb-soundfont": SOUNDFONT,
    "openttd-openmsx": MIDI[0],
    "planetblupi-music-midi": MIDI[1],
}


def apt_command(*, midi: bool = True) -> str:
    """The exact command that installs every package ``build`` needs."""
    names = [*PACKAGES, *(MIDI_PACKAGES if midi else ())]
    return "apt-get install -y --no-install-recommends " + " ".join(names)


def missing_packages(*, midi: bool = True) -> dict[str, str]:
    """``{package: what is missing}`` for the packages ``build`` needs (empty when all there)."""
    missing = {}
    for package, need in {**PACKAGES, **(MIDI_PACKAGES if midi else {})}.items():
        if not glob.glob(need, recursive=True):
            missing[package] = f"no {need}"
    return missing


@dataclass
class Item:
    source: str  # the original file
    kind: str  # speech | music | midi
    origin: str  # key of LICENSES
    group: str  # split group: language or track
    split: str  # train | val
    out: str = ""  # written file, relative to the corpus root
    seconds: float = 0.0


def _plan(
    *, val_languages: tuple[str, ...], val_every: int, seed: int, midi: bool
) -> tuple[list[Item], list[dict]]:
    items: list[Item] = []
    skipped: list[dict] = []
    for f in sorted(glob.glob(TUXPAINT, recursive=True)):
        try:
            lang = _language(Path(f))
        except ValueError:
            skipped.append({"source": f, "reason": "no language suffix"})
            continue
        split = "val" if lang in val_languages else "train"
        items.append(Item(f, "speech", "tuxpaint", lang, split))
    tracks = [(f, "music", "warzone2100") for f in sorted(glob.glob(WARZONE, recursive=True))]
    tracks += [(f, "music", "wesnoth") for f in sorted(glob.glob(WESNOTH))]
    if midi:
        for pattern in MIDI:
            origin = "openttd-openmsx" if "openttd" in pattern else "planetblupi"
            tracks += [(f, "midi", origin) for f in sorted(glob.glob(pattern))]
    order = list(range(len(tracks)))
    random.Random(seed).shuffle(order)
    for rank, i in enumerate(order):
        f, kind, origin = tracks[i]
        split = "val" if val_every and rank % val_every == 0 else "train"
        items.append(Item(f, kind, origin, f, split))
    return items, skipped


def _render_midi(path: str, sample_rate: int) -> torch.Tensor:
    import midirenderer

    wav = midirenderer.render_wave_from(Path(SOUNDFONT).read_bytes(), Path(path).read_bytes())
    data, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    x = resample(torch.from_numpy(data.T.copy()).mean(0, keepdim=True), sr, sample_rate)
    # Trim trailing silence (the synthesizer renders the reverb tail and then zeros).
    loud = (x.abs() > 1e-3).nonzero()
    return x[:, : int(loud[-1, 1]) + 1] if len(loud) else x[:, :0]


def _process(job: tuple[Item, str, int, float, int]) -> tuple[Item, str | None]:
    item, root, sample_rate, music_seconds, seed = job
    try:
        if item.kind == "midi":
            x = _render_midi(item.source, sample_rate)
        else:
            x = read_audio(item.source, sample_rate=sample_rate, channels=1)
        if item.kind in ("music", "midi") and music_seconds > 0:
            n = int(music_seconds * sample_rate)
            if x.shape[-1] > n:
                rng = random.Random(f"{seed}:{item.source}")
                start = rng.randint(0, x.shape[-1] - n)
                x = x[:, start : start + n]
        if x.shape[-1] == 0 or float(x.abs().max()) == 0.0:
            return item, "silent or empty after decoding"
        stem = Path(item.source).with_suffix("").as_posix().strip("/").replace("/", "__")
        rel = Path(item.split) / item.kind / f"{stem}.flac"
        out = Path(root) / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        pcm = np.clip(x[0].numpy(), -1.0, 1.0)
        with atomic_file(out, clean_stale=False) as tmp:  # never a truncated file
            sf.write(tmp, pcm, sample_rate, subtype="PCM_16", format="FLAC")
        item.out = rel.as_posix()
        item.seconds = round(x.shape[-1] / sample_rate, 3)
        return item, None
    except (ValueError, RuntimeError, OSError) as err:
        return item, f"{type(err).__name__}: {err}"


def build_audio_corpus(
    out_dir: str | Path,
    *,
    sample_rate: int = 16000,
    music_seconds: float = 90.0,
    val_languages: tuple[str, ...] = DEFAULT_VAL_LANGUAGES,
    val_every: int = 10,
    midi: bool = True,
    seed: int = 0,
    workers: int = 2,
) -> Path:
    """Build the corpus into ``out_dir`` (see the module docstring); returns the manifest path."""
    missing = missing_packages(midi=midi)
    if missing:
        what = "; ".join(f"{p} ({why})" for p, why in missing.items())
        hint = " (or build without the MIDI renders: --no-midi)" if midi else ""
        raise FileNotFoundError(
            f"build_audio_corpus: the corpus sources are Debian packages, and these are missing: "
            f"{what}. Install them with `{apt_command(midi=midi)}`{hint}"
        )
    root = Path(out_dir)
    items, skipped = _plan(val_languages=val_languages, val_every=val_every, seed=seed, midi=midi)
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(it, str(root), sample_rate, music_seconds, seed) for it in items]
    done: list[Item] = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for item, err in pool.map(_process, jobs, chunksize=16):
            if err is None:
                done.append(item)
            else:
                skipped.append({"source": item.source, "reason": err})
    summary: dict[str, dict[str, float]] = {}
    for it in done:
        s = summary.setdefault(f"{it.split}/{it.kind}", {"files": 0, "minutes": 0.0})
        s["files"] += 1
        s["minutes"] = round(s["minutes"] + it.seconds / 60, 2)
    manifest = {
        "sample_rate": sample_rate,
        "channels": 1,
        "seed": seed,
        "music_seconds": music_seconds,
        "val_languages": list(val_languages),
        "val_every": val_every,
        "licenses": LICENSES,
        "summary": summary,
        "files": [asdict(it) for it in sorted(done, key=lambda it: it.out)],
        "skipped": skipped,
    }
    return atomic_write_json(root / "manifest.json", manifest, indent=1)


def build_speech_eval_set(
    corpus_dir: str | Path,
    out_dir: str | Path,
    *,
    seconds: float = 4.0,
    pause: float = 0.25,
) -> Path:
    """Speech evaluation clips from the corpus's held-out languages: each language's validation
    recordings, in manifest order, joined with ``pause`` seconds of silence into clips of at
    least ``seconds`` (the last, shorter remainder is kept if it holds >= 1 s).

    Tux Paint recordings are single words or short phrases (median 1.1 s); STOI needs ~0.4 s of
    speech after its silence removal and DNSMOS scores 9 s windows, so per-recording scores
    would be undefined or meaningless. Every sample is still real recorded speech.
    """
    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    manifest = json.loads((corpus_dir / "manifest.json").read_text())
    sr = int(manifest["sample_rate"])
    by_lang: dict[str, list[dict]] = {}
    for f in manifest["files"]:
        if f["kind"] == "speech" and f["split"] == "val":
            by_lang.setdefault(f["group"], []).append(f)
    if not by_lang:
        raise FileNotFoundError(f"build_speech_eval_set: no validation speech in {corpus_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    gap = np.zeros(int(pause * sr), dtype=np.float32)
    written: list[dict] = []
    for lang, files in sorted(by_lang.items()):
        # Consecutive recordings until a group reaches `seconds`.
        groups: list[list[dict]] = [[]]
        total = 0
        for f in files:
            groups[-1].append(f)
            total += round(f["seconds"] * sr) + len(gap)
            if total >= seconds * sr:
                groups.append([])
                total = 0
        for group in (g for g in groups if g):
            parts = [
                x for f in group for x in (sf.read(corpus_dir / f["out"], dtype="float32")[0], gap)
            ]
            clip = np.concatenate(parts)
            if len(clip) < sr:
                continue
            name = f"{lang}_{sum(w['language'] == lang for w in written):03d}.flac"
            with atomic_file(out_dir / name, clean_stale=False) as tmp:
                sf.write(tmp, clip, sr, subtype="PCM_16", format="FLAC")
            written.append({"file": name, "language": lang, "sources": [f["source"] for f in group],
                            "seconds": round(len(clip) / sr, 3)})  # fmt: skip
    meta = {"corpus": str(corpus_dir), "sample_rate": sr, "seconds": seconds, "pause": pause,
            "clips": written}  # fmt: skip
    return atomic_write_json(out_dir / "manifest.json", meta, indent=1)


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m zoo.data.audio_corpus",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser(
        "build",
        help="decode, resample and split the corpus into OUT_DIR (needs Debian packages)",
        description="Needs Debian packages (it stops, naming what is missing, without them); "
        f"install them with:\n\n    {apt_command()}\n\n--no-midi needs all but "
        f"{' '.join(MIDI_PACKAGES)}.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument("out_dir")
    b.add_argument("--sample-rate", type=int_in(1000, 384000), default=16000)
    b.add_argument(
        "--music-seconds",
        type=float_in(0, 24 * 3600),
        default=90.0,
        help="excerpt per track (0: all)",
    )
    b.add_argument("--val-languages", default=",".join(DEFAULT_VAL_LANGUAGES))
    b.add_argument("--val-every", type=int_in(2), default=10, help="every k-th track is validation")
    b.add_argument("--no-midi", action="store_true", help="skip the FluidSynth MIDI renders")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--workers", type=int_in(1, 256), default=2)
    e = sub.add_parser(
        "speech-eval", help="join held-out-language recordings into ~4 s speech eval clips"
    )
    e.add_argument("corpus_dir")
    e.add_argument("out_dir")
    e.add_argument("--seconds", type=float_in(0, 3600, low_open=True), default=4.0)
    a = p.parse_args(argv)
    if a.cmd == "speech-eval":
        path = build_speech_eval_set(a.corpus_dir, a.out_dir, seconds=a.seconds)
        clips = json.loads(path.read_text())["clips"]
        print(f"{len(clips)} clips, {sum(c['seconds'] for c in clips) / 60:.1f} min -> {path}")
        return 0
    path = build_audio_corpus(
        a.out_dir,
        sample_rate=a.sample_rate,
        music_seconds=a.music_seconds,
        val_languages=tuple(s for s in a.val_languages.split(",") if s),
        val_every=a.val_every,
        midi=not a.no_midi,
        seed=a.seed,
        workers=a.workers,
    )
    m = json.loads(path.read_text())
    for k, v in sorted(m["summary"].items()):
        print(f"{k:14s} {v['files']:5d} files {v['minutes']:8.1f} min")
    if m["skipped"]:
        print(f"skipped {len(m['skipped'])} files (reasons in {path})", file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
