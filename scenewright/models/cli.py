"""``scenewright models download NAME`` and ``scenewright models list``."""

from __future__ import annotations

import argparse

from scenewright.models.registry import ALL, MODELS


def _download(args: argparse.Namespace) -> int:
    from scenewright.models.download import download
    from scenewright.models.folder import model_folder
    names = ALL if args.name == "all" else (args.name,)
    for name in names:
        folder = download(name, args.to, args.revision)
        if name == "midi":
            from scenewright.methods.midi.weights import check_folder
            check_folder(folder)
            print(f"midi: {folder}; use: scenewright reconstruct CAPTURE -o OUT --method midi --weights {folder}")
        else:
            model_folder(name, folder.parent)
            print(f"{name}: {folder}")
    return 0


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _list(args: argparse.Namespace) -> int:
    from scenewright.models.folder import (REQUIRED_FILE, download_hint, folder_size, model_identity,
                                           models_dir, weights_sha256)
    root = models_dir(args.models)
    print(f"models folder: {root}")
    for name, spec in MODELS.items():
        folder = root / name
        present = (folder / REQUIRED_FILE.get(name, "config.json")).is_file()
        if present:
            ident = model_identity(folder)
            source = f"{ident.get('repo_id') or 'own folder'}@{(ident.get('commit') or ident.get('config_sha256') or '?')[:12]}"
            state = f"present  {_human(folder_size(folder)):>9}  {source}"
            if name == "midi":      # the checkpoint a MIDI result depends on, to compare with others
                state += f"  weights sha256 {(ident.get('weights_sha256') or weights_sha256(folder))[:16]}"
        else:
            state = f"absent   (`{download_hint(name, root)}`, about {spec.approx_size})"
        line = f"  {name:<10} {state}  licence {spec.licence}"
        if args.memory:
            from scenewright.models.memory import parameter_count, parameter_count_of_folder
            n = parameter_count(name)
            if n is None and present:      # not modelled from a config: count the checkpoint's tensors
                n = parameter_count_of_folder(folder)
            line += "" if n is None else f"  {n / 1e6:.1f} M params = {_human(4 * n)} fp32"
        print(line)
        print(f"             {spec.repo_id}: {spec.what}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("models", help="the models folder: download models, list what is present")
    msub = m.add_subparsers(dest="models_command", required=True)
    d = msub.add_parser("download", help="fetch a model from the Hugging Face hub (needs network)")
    d.add_argument("name", choices=[*MODELS, "all"])
    d.add_argument("--to", default=None,
                   help="models folder (default: $SCENEWRIGHT_MODELS, else the settings file, else ~/.cache/scenewright/models)")
    d.add_argument("--revision", default=None, help="hub branch, tag or commit (default: the pinned one)")
    d.set_defaults(func=_download)
    ls = msub.add_parser("list", help="what the models folder holds: sizes, sources, licences")
    ls.add_argument("--models", default=None, help="models folder (default: $SCENEWRIGHT_MODELS, else the settings file, else the cache)")
    ls.add_argument("--memory", action="store_true", help="also the weights' memory, from each config")
    ls.set_defaults(func=_list)
