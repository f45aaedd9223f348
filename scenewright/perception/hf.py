"""Loading a transformers model + processor from a local ``save_pretrained`` folder.

Never touches the network (``local_files_only``); every failure — missing folder, corrupt
or foreign weights, a config of another model type — becomes one InputError line naming
the folder and the command that fetches a good copy.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from scenewright.errors import InputError
from scenewright.models.folder import download_hint, model_identity


def check_device(device: str) -> str:
    import torch
    if device not in ("cpu", "cuda"):
        raise InputError(f"device {device!r}: expected cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (use --device cpu)")
    return device


def config_model_type(folder: Path) -> str:
    try:
        return str(json.loads((folder / "config.json").read_text()).get("model_type", ""))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{folder / 'config.json'}: unreadable ({exc}); fetch a good copy with "
                         f"`{download_hint(folder.name, folder.parent)}`") from None


def load_pretrained(folder: Path, model_cls, processor_cls, expected_types: tuple[str, ...], device: str):
    """(model in eval mode on ``device``, processor, identity dict) from ``folder``."""
    import transformers
    hint = f"fetch a good copy with `{download_hint(folder.name, folder.parent)}`"
    model_type = config_model_type(folder)
    if model_type not in expected_types:
        raise InputError(f"{folder / 'config.json'}: model_type {model_type!r}, expected "
                         f"{' or '.join(expected_types)}; {hint}")
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()       # no loading reports or torchvision notices
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            model, info = model_cls.from_pretrained(str(folder), local_files_only=True, output_loading_info=True)
            processor = processor_cls.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:   # transformers raises many kinds on corrupt or foreign files
        first = (str(exc).splitlines() or [""])[0][:300]
        raise InputError(f"{folder}: cannot load {model_cls.__name__} ({type(exc).__name__}: {first}); {hint}") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
        if bars:
            transformers.utils.logging.enable_progress_bar()
    missing = sorted(info.get("missing_keys") or [])
    unexpected = sorted(info.get("unexpected_keys") or [])
    mismatched = list(info.get("mismatched_keys") or [])
    if missing or mismatched:
        raise InputError(f"{folder}: weights do not match {model_cls.__name__} (missing {missing[:4]}, "
                         f"mismatched {mismatched[:4]}, {len(missing)} missing in all); {hint}")
    identity = model_identity(folder)
    identity.update({"class": type(model).__name__, "model_type": model_type})
    if unexpected:
        identity["unexpected_keys"] = len(unexpected)
    return model.eval().to(check_device(device)), processor, identity
