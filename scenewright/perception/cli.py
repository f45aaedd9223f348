"""``scenewright perceive IMAGE -o CAPTURE_DIR`` and the hook that lets ``reconstruct`` take a photo.

``reconstruct`` asks :func:`needs_perception`: when its input is an image file, comes with
``--seg``/``--labels``/``--fov``, or is a capture folder without the seg or depth its method
wants, the input is perceived (:func:`perceive_path`) into a capture in memory; the scene
folder then records the perception under ``"inputs"`` in ``scene.json`` and holds the
perceived capture (with ``perception.png``) in ``OUT/perceived/``, all in one atomic write
(:func:`scenewright.run.run_to_folder`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scenewright.errors import InputError


FOV_RANGE_DEG = (1.0, 179.0)     # a horizontal field of view a pinhole camera can have


def add_input_arguments(parser: argparse.ArgumentParser, seg: bool = True,
                        title: str = "input: a photo or an incomplete capture (missing parts are estimated)",
                        labels_help: str | None = None) -> None:
    """The options of a photo or incomplete capture (shared by perceive, reconstruct and batch;
    ``seg``: also ``--seg`` for one image)."""
    g = parser.add_argument_group(title)
    g.add_argument("--labels", default=None,
                   help=labels_help or 'what to look for, e.g. "sofa, armchair, coffee table" '
                                       '(default: the library categories)')
    if seg:
        g.add_argument("--seg", default=None,
                       help="instance segmentation PNG (MIDI's format: a colour or id per instance, background 0/black)")
    g.add_argument("--models", default=None,
                   help="models folder (default: $SCENEWRIGHT_MODELS, else the settings file, else ~/.cache/scenewright/models)")
    g.add_argument("--fov", type=float, default=None,
                   help="horizontal field of view in degrees (1-179) when there is no camera.json")
    g.add_argument("--box-threshold", type=float, default=0.30, help="detector: score a kept box needs")
    g.add_argument("--text-threshold", type=float, default=0.25, help="detector: score its label needs")
    g.add_argument("--max-side", type=int, default=2048,
                   help="a photo's capture is reduced to this long side in pixels (0 = keep)")
    if "--device" not in parser._option_string_actions:
        g.add_argument("--device", choices=["cpu", "cuda"], default=None,
                       help="where the models run (default: `scenewright config show`, else cpu)")


def image_settings(box_threshold: float = 0.30, text_threshold: float = 0.25, fov: float | None = None,
                   max_side: int = 2048, device: str = "cpu"):
    """:class:`ImagePerceptionSettings` from the command-line options; InputError for a bad one."""
    from scenewright.perception.from_image import ImagePerceptionSettings
    for name, value in (("box_threshold", box_threshold), ("text_threshold", text_threshold)):
        if not 0.0 <= value <= 1.0:
            raise InputError(f"--{name.replace('_', '-')} {value}: expected a value in [0, 1]")
    if fov is not None and not FOV_RANGE_DEG[0] <= fov <= FOV_RANGE_DEG[1]:
        raise InputError(f"--fov {fov:g}: expected the horizontal field of view in degrees, between "
                         f"{FOV_RANGE_DEG[0]:g} and {FOV_RANGE_DEG[1]:g} (a phone's main camera is about 65-75)")
    if max_side < 0 or 0 < max_side < 64:
        raise InputError(f"--max-side {max_side}: expected 0 (keep) or at least 64")
    if device not in ("cpu", "cuda"):
        raise InputError(f"--device {device!r}: expected cpu or cuda")
    return ImagePerceptionSettings(box_threshold=box_threshold, text_threshold=text_threshold,
                                   fov_deg=fov, max_capture_side=max_side, device=device)


def settings_from_args(args: argparse.Namespace):
    """The photo options of a command line (the device: the flag, else the settings)."""
    from scenewright import config
    return image_settings(args.box_threshold, args.text_threshold, getattr(args, "fov", None), args.max_side,
                          config.get("device", getattr(args, "device", None)))


def perceive_input(path, seg_path, labels: list[str], models, settings):
    """An image file or capture folder (+ an optional seg PNG) → (Capture, PerceptionRecord)."""
    from scenewright.capture import load_capture
    from scenewright.perception.from_image import perceive_image
    from scenewright.perception.image_input import is_image_file, load_image, load_seg
    src = Path(path)
    if src.is_dir():
        image = load_capture(src, require_seg=False)
        size = (image.width, image.height)
    elif is_image_file(src):
        image = load_image(src)
        size = (image.rgb.shape[1], image.rgb.shape[0])
    elif src.exists():
        raise InputError(f"{src}: neither a capture folder nor an image file (.jpg, .png, .webp, .tif, .bmp)")
    else:
        raise InputError(f"{src}: not found")
    seg = load_seg(seg_path, size) if seg_path else None
    return perceive_image(image, labels, models, settings, seg=seg)


def perceive_path(path: str, args: argparse.Namespace):
    """An image file or capture folder (+ the input options) → (Capture, PerceptionRecord)."""
    from scenewright.perception.from_image import PerceptionModels
    from scenewright.perception.image_input import parse_labels
    settings = settings_from_args(args)
    models = PerceptionModels(args.models, settings.device, settings)
    return perceive_input(path, args.seg, parse_labels(args.labels), models, settings)


def write_perceived(capture, record, out: str | Path, overwrite: bool = False) -> Path:
    """The capture folder, ``camera.json`` always, ``perception.json`` and ``perception.png``, atomically."""
    from scenewright.fileio import atomic_dir
    out = Path(out)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        write_perceived_into(capture, record, tmp)
    return out


def write_perceived_into(capture, record, tmp: Path) -> None:
    """Write the perceived capture's files into the (new, empty) folder ``tmp``."""
    from PIL import Image

    from scenewright.capture import write_capture
    from scenewright.fileio import dumps_json
    from scenewright.perception.overlay import perception_overlay
    tmp.mkdir(parents=True, exist_ok=True)
    inner = write_capture(capture, tmp / "capture")
    for item in inner.iterdir():
        item.rename(tmp / item.name)
    inner.rmdir()
    if not (tmp / "camera.json").is_file():      # written even for a default camera, to be edited
        (tmp / "camera.json").write_text(dumps_json(
            {"K": capture.K, "width": capture.width, "height": capture.height}) + "\n")
    (tmp / "perception.json").write_text(dumps_json(record.to_json()) + "\n")
    depth_src = record.inputs.get("depth", {}).get("source", "")
    Image.fromarray(perception_overlay(capture, depth_note=depth_src)).save(tmp / "perception.png")


def _perceive(args: argparse.Namespace) -> int:
    import sys
    capture, record = perceive_path(args.image, args)
    write_perceived(capture, record, args.out, overwrite=args.overwrite)
    summary = ", ".join(f"{k} {v.get('source')}" for k, v in record.inputs.items())
    print(f"perceived {len(capture.instance_ids)} instances ({summary}) → {args.out}", file=sys.stderr)
    for note in record.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def needs_perception(args: argparse.Namespace, method=None) -> bool:
    """Is ``args.capture`` to be perceived first: a photo, given ``--seg``/``--labels``/``--fov``,
    or a capture folder missing a channel ``method`` (a Method class) wants estimated
    (``--depth none``: depth is not wanted)."""
    if getattr(args, "seg", None) or getattr(args, "labels", None) or getattr(args, "fov", None) is not None:
        return True
    skip = ("depth",) if getattr(args, "depth", None) == "none" else ()
    return lacks_inputs(args.capture, method, skip=skip)


def lacks_inputs(path, method=None, wanted: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()) -> bool:
    """Is ``path`` an image file, or a capture folder missing a channel of ``wanted`` (default:
    those ``method``, a Method class, wants estimated, ``perceive_missing``: seg and depth),
    not counting the channels in ``skip``?"""
    src = Path(path)
    if src.is_dir():
        present = {"seg": (src / "seg.png").is_file(),
                   "depth": (src / "depth.npy").is_file() or (src / "depth.png").is_file()}
        if wanted is None:
            wanted = getattr(method, "perceive_missing", ("seg", "depth"))
        return not all(present.get(c, True) for c in wanted if c not in skip)
    return src.is_file()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("perceive", help="photo (or incomplete capture) → capture folder, estimating what is missing")
    p.add_argument("image", help="image file (JPEG, PNG, WebP, …) or capture folder")
    p.add_argument("-o", "--out", required=True, help="capture folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    add_input_arguments(p)
    p.set_defaults(func=_perceive)
