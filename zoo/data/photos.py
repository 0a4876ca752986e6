"""The CPU-scale photo set: 55 real photographs from Debian packages + a validation set.

Training photos (0.7-20 MP) come from six Debian packages, installed with::

    apt-get install -y --no-install-recommends mate-backgrounds plasma-workspace-wallpapers \
        lxqt-themes lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 palapeli-data

Two collections: ``wallpapers35`` is the first three packages' 35 photos (what the first CPU runs
trained on, e.g. stage 1 of ``vqgan_cpu_f8.photos``); ``all`` (the default) adds 15 photographs
from the Lomiri (Ubuntu Touch) wallpapers and the 5 photographs of KDE Palapeli's puzzle
collection. Abstract wallpapers the same packages install (``umang``, ``Fossa``,
``Infinite-Sea``, ``Painting-Colors``) and Palapeli's 512 px textures are left out.

Validation photos are scikit-image's bundled photos (CC0 / public domain) and matplotlib's
``grace_hopper.jpg`` (US Navy photograph, public domain): different sources from the training
photos, so the split is by source photo by construction.

Usage::

    python -m zoo.data.photos build data/photos            # train/ + val/ + manifest.json
    python -m zoo.data.photos cache data/photos            # train crops -> crops_128.safetensors

``manifest.json`` lists every file with its split, sha256, license and origin, so a run records
exactly which data it saw.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from zoo._argtypes import float_in, int_in
from zoo._io import atomic_file, atomic_write_json, sha256_file
from zoo.data.image import build_crop_cache, list_images
from zoo.data.transforms import MultiScaleCrop

_APT = "apt-get install -y --no-install-recommends "
_WALLPAPER_PACKAGES = "mate-backgrounds plasma-workspace-wallpapers lxqt-themes"
_EXTRA_PACKAGES = "lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 palapeli-data"
#: The apt command that installs every photo of each collection.
APT_HINTS = {
    "wallpapers35": _APT + _WALLPAPER_PACKAGES,
    "all": _APT + _WALLPAPER_PACKAGES + " " + _EXTRA_PACKAGES,
}
APT_HINT = APT_HINTS["all"]
COLLECTIONS = tuple(APT_HINTS)

_MATE = "/usr/share/backgrounds/mate/nature"
_PLASMA = "/usr/share/wallpapers"
_LXQT = "/usr/share/lxqt/wallpapers"
_MATE_NAMES = (
    "Aqua Blinds Dune FreshFlower Garden GreenMeadow LadyBird RainDrops Storm TwoWings Wood "
    "YellowFlower"
).split()
_PLASMA_NAMES = (
    "BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite OneStandsOut "
    "Path summer_1am"
).split()
_LXQT_FILES = (
    "Butterfly-Kenneth-Wimer.jpg Valendas.png after-the-rain.jpg appleflower.png beam.png "
    "butterfly.png cloud.png drop.png flowers.png fog.jpg this-is-not-windows.jpg"
).split()
_LOMIRI = "/usr/share/backgrounds"
# (file, license) from /usr/share/doc/lomiri-wallpapers-*/copyright ("Clements" is the file
# name's spelling; the copyright file credits Clemens Engelhardt).
_LOMIRI_16 = {
    "Bridge_by_Sander_Klootwijk.jpg": "CC-BY-SA-4.0",
    "Dragonfly_by_Bolly.jpg": "CC-BY-SA-4.0",
    "Picture_0B_by_freespace.jpg": "CC-BY-4.0",
    "Picture_1A_by_freespace.jpg": "CC-BY-4.0",
    "Wine_by_Jakkub_Mede.jpg": "CC-BY-4.0",
    "aitzgorri_by_Aitzol_Berasategi.jpg": "CC-BY-4.0",
    "analogpattern_by_Peter_Nerlich.jpg": "CC-BY-SA-4.0",
    "free_by_Peter_Nerlich.jpg": "CC-BY-SA-4.0",
    "friends_by_Aitzol_Berasategi.jpg": "CC-BY-4.0",
    "greentock_by_Peter_Nerlich.jpg": "CC-BY-SA-4.0",
    "life_by_Aitzol_Berasategi.jpg": "CC-BY-4.0",
    "picosdeeuropa_by_Aitzol_Berasategi.jpg": "CC-BY-4.0",
    "seeding_by_Clements_Engelhardt.jpg": "CC0-1.0",
    "sunset_by_Aitzol_Berasategi.jpg": "CC-BY-4.0",
}
_LOMIRI_20 = {"Kleiber_by_Lukas_Baubkus.jpg": "CC-BY-SA-3.0"}
_PALAPELI = "/usr/share/palapeli/collection"
# (file, license) from the .desktop file next to each puzzle image.
_PALAPELI_FILES = {
    "castle-maintenon.jpg": "GFDL",
    "cincinnati-bridge.jpg": "public domain",
    "citrus-fruits.jpg": "public domain",
    "european-honey-bee.jpg": "public domain",
    "panther-chameleon-female.jpg": "GFDL",
}


@dataclass(frozen=True)
class PhotoSource:
    """One photo of the set: where it is installed, what it is called in the set, its license."""

    name: str  # file name inside the split folder
    path: str  # installed location
    split: str  # "train" or "val"
    license: str
    origin: str  # Debian package or Python package it ships in


def train_sources(collection: str = "all") -> list[PhotoSource]:
    """The training photos of ``collection`` (``"all"``: 55, ``"wallpapers35"``: 35); licenses
    from the packages' Debian copyright files."""
    if collection not in COLLECTIONS:
        raise ValueError(f"photos: collection must be one of {COLLECTIONS}, got {collection!r}")
    out = [
        PhotoSource(f"mate-{n}.jpg", f"{_MATE}/{n}.jpg", "train", "GPL-2+", "mate-backgrounds")
        for n in _MATE_NAMES
    ]
    out += [
        PhotoSource(
            f"plasma-{n}.jpg",
            f"{_PLASMA}/{n}/contents/images/2560x1600.jpg",
            "train",
            "GPL-2+",
            "plasma-workspace-wallpapers",
        )
        for n in _PLASMA_NAMES
    ]
    out.append(
        PhotoSource(
            "plasma-Volna.jpg",
            f"{_PLASMA}/Volna/contents/images/5120x2880.jpg",
            "train",
            "GPL-2+",
            "plasma-workspace-wallpapers",
        )
    )
    out += [
        PhotoSource(f"lxqt-{f}", f"{_LXQT}/{f}", "train", "LGPL-2.1+", "lxqt-themes")
        for f in _LXQT_FILES
    ]
    if collection == "wallpapers35":
        return out
    for package, files in (
        ("lomiri-wallpapers-16.04", _LOMIRI_16),
        ("lomiri-wallpapers-20.04", _LOMIRI_20),
    ):
        out += [
            PhotoSource(f"lomiri-{f}", f"{_LOMIRI}/{f}", "train", lic, package)
            for f, lic in files.items()
        ]
    out += [
        PhotoSource(f"palapeli-{f}", f"{_PALAPELI}/{f}", "train", lic, "palapeli-data")
        for f, lic in _PALAPELI_FILES.items()
    ]
    return out


def val_sources() -> list[PhotoSource]:
    """Bundled photos of scikit-image and matplotlib (installed with the package's deps)."""
    import matplotlib
    import skimage

    sk = Path(skimage.__file__).parent / "data"
    mpl = Path(matplotlib.get_data_path()) / "sample_data"
    # Licenses as stated in skimage.data's docstrings.
    sk_files = {
        "astronaut.png": "public domain (NASA)",
        "camera.png": "CC0 (Lav Varshney)",
        "chelsea.png": "CC0 (Stefan van der Walt)",
        "coffee.png": "CC0 (Rachel Michetti)",
        "hubble_deep_field.jpg": "public domain (NASA)",
        "retina.jpg": "CC0 (Mikael Häggström)",
        "rocket.jpg": "public domain (SpaceX)",
    }
    out = [
        PhotoSource(f"skimage-{f}", str(sk / f), "val", lic, "scikit-image")
        for f, lic in sk_files.items()
    ]
    out.append(
        PhotoSource(
            "matplotlib-grace_hopper.jpg",
            str(mpl / "grace_hopper.jpg"),
            "val",
            "public domain (US Navy)",
            "matplotlib",
        )
    )
    return out


def build_photo_set(
    out_dir: str | Path, *, link: bool = False, collection: str = "all"
) -> Path:
    """Copy (or symlink) the photo set into ``out_dir/{train,val}`` and write ``manifest.json``.

    ``collection``: which training photos (:data:`COLLECTIONS`). Raises FileNotFoundError
    listing the missing files and the apt command that installs them. Returns the manifest path.
    """
    sources = train_sources(collection) + val_sources()
    missing = [s.path for s in sources if not Path(s.path).is_file()]
    if missing:
        raise FileNotFoundError(
            f"build_photo_set: {len(missing)} source photos are not installed, e.g. {missing[:3]}. "
            f"Install the packages with: {APT_HINTS[collection]}"
        )
    out_dir = Path(out_dir)
    entries = []
    for s in sources:
        dst = out_dir / s.split / s.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(dst, clean_stale=False) as tmp:
            if link:
                tmp.symlink_to(Path(s.path).resolve())
            else:
                shutil.copyfile(s.path, tmp)
        with Image.open(dst) as im:
            width, height = im.size
        entries.append(
            {
                "file": f"{s.split}/{s.name}",
                "split": s.split,
                "sha256": sha256_file(dst),
                "license": s.license,
                "origin": s.origin,
                "source_path": s.path,
                "width": width,
                "height": height,
            }
        )
    manifest = {
        "name": "zoo-photos",
        "description": (
            f"{len(sources) - len(val_sources())} Debian package photographs (train, collection "
            f"{collection!r}) and bundled Python package photos (val)"
        ),
        "collection": collection,
        "num_train": sum(e["split"] == "train" for e in entries),
        "num_val": sum(e["split"] == "val" for e in entries),
        "files": entries,
    }
    return atomic_write_json(out_dir / "manifest.json", manifest)


def verify_photo_set(out_dir: str | Path) -> list[str]:
    """Files whose sha256 no longer matches ``manifest.json`` (empty list when intact)."""
    out_dir = Path(out_dir)
    manifest = json.loads((out_dir / "manifest.json").read_text())
    return [e["file"] for e in manifest["files"] if sha256_file(out_dir / e["file"]) != e["sha256"]]


def _main(argv: list[str] | None = None) -> int:
    needs = "`build` needs the Debian photo packages (it stops, naming the missing photos, "
    needs += f"without them); install them with:\n\n    {APT_HINT}\n"
    raw = argparse.RawDescriptionHelpFormatter  # keeps the apt command on one line
    p = argparse.ArgumentParser(
        prog="python -m zoo.data.photos",
        description=f"{__doc__.splitlines()[0]}\n\n{needs}",
        formatter_class=raw,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser(
        "build",
        help="copy the photos into OUT_DIR/{train,val} + manifest.json (needs Debian packages)",
        description=needs,
        formatter_class=raw,
    )
    b.add_argument("out_dir")
    b.add_argument("--link", action="store_true", help="symlink instead of copying")
    b.add_argument(
        "--collection",
        choices=COLLECTIONS,
        default="all",
        help="training photos: all 55 (default) or the first 35 wallpapers (needs only "
        f"{_WALLPAPER_PACKAGES})",
    )
    c = sub.add_parser("cache", help="pre-extract random training crops into a safetensors file")
    c.add_argument("out_dir", help="a folder written by `build` (reads OUT_DIR/train)")
    c.add_argument("--num-crops", type=int_in(1, 10_000_000), default=20000)
    c.add_argument("--crop-size", type=int_in(1, 4096), default=64)
    c.add_argument("--min-short-side", type=int_in(1, 16384), default=256)
    c.add_argument("--max-short-side", type=int_in(1, 16384), default=768)
    c.add_argument("--min-gradient-energy", type=float_in(0), default=0.01)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--output", default=None, help="default: OUT_DIR/crops_<crop-size>.safetensors")
    args = p.parse_args(argv)
    if args.cmd == "build":
        path = build_photo_set(args.out_dir, link=args.link, collection=args.collection)
        m = json.loads(path.read_text())
        print(f"wrote {m['num_train']} train + {m['num_val']} val photos; manifest {path}")
        return 0
    crop = MultiScaleCrop(
        crop_size=args.crop_size,
        min_short_side=args.min_short_side,
        max_short_side=args.max_short_side,
        # Flips are applied at training time; the cache stores unflipped crops.
        flip=False,
        min_gradient_energy=args.min_gradient_energy,
    )
    out = args.output or str(Path(args.out_dir) / f"crops_{args.crop_size}.safetensors")
    files = list_images(Path(args.out_dir) / "train")
    build_crop_cache(files, out, num_crops=args.num_crops, crop=crop, seed=args.seed)
    print(f"wrote {args.num_crops} crops of {args.crop_size} px from {len(files)} photos to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
