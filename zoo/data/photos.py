"""The CPU-scale photo set: 35 real photographs from Debian wallpaper packages + a validation set.

Training photos (1.3-20 MP) come from three Debian packages, installed with::

    apt-get install -y --no-install-recommends \
        mate-backgrounds plasma-workspace-wallpapers lxqt-themes

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

APT_HINT = (
    "apt-get install -y --no-install-recommends mate-backgrounds plasma-workspace-wallpapers "
    "lxqt-themes"
)

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


@dataclass(frozen=True)
class PhotoSource:
    """One photo of the set: where it is installed, what it is called in the set, its license."""

    name: str  # file name inside the split folder
    path: str  # installed location
    split: str  # "train" or "val"
    license: str
    origin: str  # Debian package or Python package it ships in


def train_sources() -> list[PhotoSource]:
    """The 35 wallpaper photos (licenses from the packages' Debian copyright files)."""
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


def build_photo_set(out_dir: str | Path, *, link: bool = False) -> Path:
    """Copy (or symlink) the photo set into ``out_dir/{train,val}`` and write ``manifest.json``.

    Raises FileNotFoundError listing the missing files and the apt command that installs them.
    Returns the manifest path.
    """
    sources = train_sources() + val_sources()
    missing = [s.path for s in sources if not Path(s.path).is_file()]
    if missing:
        raise FileNotFoundError(
            f"build_photo_set: {len(missing)} source photos are not installed, e.g. {missing[:3]}. "
            f"Install the wallpaper packages with: {APT_HINT}"
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
        "description": "35 Debian wallpaper photographs (train) and bundled package photos (val)",
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
    needs = "`build` needs the Debian wallpaper packages (it stops, naming the missing photos, "
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
        path = build_photo_set(args.out_dir, link=args.link)
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
