"""Settings that persist: the asset library, the models folder and the device.

Every command and the web page read them here, each from the first place that has it:

1. the command's flag (``--library``, ``--models``, ``--device``),
2. the environment (``SCENEWRIGHT_LIBRARY``, ``SCENEWRIGHT_MODELS``, ``SCENEWRIGHT_DEVICE``),
3. the settings file (``$SCENEWRIGHT_CONFIG``, else ``$XDG_CONFIG_HOME/scenewright/config.toml``,
   i.e. ``~/.config/scenewright/config.toml``), written by ``scenewright config set``,
4. the default.

>>> import os
>>> os.environ["SCENEWRIGHT_CONFIG"] = str(tmp / "config.toml")
>>> set_value("device", "cuda").name
'config.toml'
>>> resolve("device")
Setting(key='device', value='cuda', source='.../config.toml')
>>> resolve("device", flag="cpu").source
'flag'
>>> unset_value("device").read_text()
''
>>> resolve("device").value, resolve("device").source
('cpu', 'default')
>>> del os.environ["SCENEWRIGHT_CONFIG"]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from scenewright.errors import InputError

CONFIG_ENV = "SCENEWRIGHT_CONFIG"
DEVICES = ("cpu", "cuda")


def _checkout_root() -> Path | None:
    """The source checkout this package runs from (an editable install), else None."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "scenewright" / "cli.py").is_file() else None


def default_library() -> Path:
    """``data/library`` of the source checkout when running from one (where ``make demo`` builds
    it), else ``$XDG_DATA_HOME/scenewright/library`` (``~/.local/share/scenewright/library``).

    Never relative to the current folder: a command started anywhere finds the same library.
    """
    root = _checkout_root()
    if root is not None:
        return root / "data" / "library"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "scenewright" / "library"


def shipped_examples() -> Path:
    """The example captures: ``examples/`` of the source checkout, else the copy a wheel
    installs under ``<prefix>/share/scenewright/examples``."""
    import sys
    root = _checkout_root()
    if root is not None and (root / "examples").is_dir():
        return root / "examples"
    return Path(sys.prefix) / "share" / "scenewright" / "examples"


def default_models() -> Path:
    """``$XDG_CACHE_HOME/scenewright/models`` (``~/.cache/scenewright/models``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scenewright" / "models"


def _folder(value: str) -> str:
    if not str(value).strip():
        raise InputError("expected a folder, got an empty value")
    return str(Path(value).expanduser())


def _device(value: str) -> str:
    value = str(value).strip().lower()
    if value not in DEVICES:
        raise InputError(f"device {value!r}: expected one of {', '.join(DEVICES)}")
    return value


@dataclass(frozen=True)
class Key:
    """One persistent setting: its environment variable, default and check."""

    env: str
    default: Callable[[], str]
    check: Callable[[str], str]
    meaning: str


KEYS: dict[str, Key] = {
    "library": Key("SCENEWRIGHT_LIBRARY", lambda: str(default_library()), _folder,
                   "asset library folder (scenewright library build -o ...)"),
    "models": Key("SCENEWRIGHT_MODELS", lambda: str(default_models()), _folder,
                  "models folder (scenewright models download ... fills it)"),
    "device": Key("SCENEWRIGHT_DEVICE", lambda: "cpu", _device, "cpu | cuda, for the models"),
}


@dataclass(frozen=True)
class Setting:
    """A resolved value and where it came from: ``flag``, ``$ENV``, the settings file's path, ``default``."""

    key: str
    value: str
    source: str


def settings_file() -> Path:
    """``$SCENEWRIGHT_CONFIG``, else ``$XDG_CONFIG_HOME/scenewright/config.toml``."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "scenewright" / "config.toml"


def _checked(name: str, value: str) -> str:
    try:
        return KEYS[name].check(value)
    except InputError as exc:
        message = str(exc)
        raise InputError(message if message.startswith(name) else f"{name}: {message}") from None


def _key(name: str) -> Key:
    if name not in KEYS:
        raise InputError(f"{name!r}: not a setting; the settings are {', '.join(KEYS)}")
    return KEYS[name]


def read_file(path: Path | None = None) -> dict[str, str]:
    """The settings file's values (empty when it does not exist); InputError naming the file
    when it is not valid TOML or holds an unknown key or a bad value."""
    import tomllib
    path = settings_file() if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the settings file ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    values = {}
    for name, value in data.items():
        if name not in KEYS:
            raise InputError(f"{path}: unknown setting {name!r} (known: {', '.join(KEYS)})")
        if not isinstance(value, str):
            raise InputError(f"{path}: {name} must be a string, got {value!r}")
        try:
            values[name] = _checked(name, value)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
    return values


def resolve(name: str, flag: str | os.PathLike | None = None) -> Setting:
    """The value of setting ``name``: ``flag`` if given, else its environment variable, else the
    settings file, else the default."""
    key = _key(name)
    if flag is not None and str(flag) != "":
        return Setting(name, _checked(name, str(flag)), "flag")
    env = os.environ.get(key.env)
    if env:
        try:
            return Setting(name, _checked(name, env), f"${key.env}")
        except InputError as exc:
            raise InputError(f"${key.env}: {exc}") from None
    path = settings_file()
    stored = read_file(path)
    if name in stored:
        return Setting(name, stored[name], str(path))
    return Setting(name, key.default(), "default")


def get(name: str, flag: str | os.PathLike | None = None) -> str:
    """:func:`resolve`'s value only."""
    return resolve(name, flag).value


def show() -> list[Setting]:
    """Every setting as the commands would see it without flags."""
    return [resolve(name) for name in KEYS]


def _write(doc, path: Path) -> None:
    import tomlkit

    from scenewright.fileio import atomic_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, models=False) as tmp:
        tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")


def _load_doc(path: Path):
    import tomlkit
    read_file(path)             # the same checks (and errors) as reading it for a command
    return tomlkit.parse(path.read_text(encoding="utf-8")) if path.is_file() else tomlkit.document()


def set_value(name: str, value: str, path: Path | None = None) -> Path:
    """Store ``name = value`` in the settings file (created if needed; its comments and other
    keys are kept), replacing it in one rename. Returns the file's path."""
    _key(name)
    value = _checked(name, value)
    if name in ("library", "models"):
        value = str(Path(value).resolve())       # a stored folder means the same from anywhere
    path = settings_file() if path is None else Path(path)
    doc = _load_doc(path)
    doc[name] = value
    _write(doc, path)
    return path


def unset_value(name: str, path: Path | None = None) -> Path:
    """Remove ``name`` from the settings file (nothing to do when it is not there)."""
    _key(name)
    path = settings_file() if path is None else Path(path)
    doc = _load_doc(path)
    if name in doc:
        del doc[name]
        _write(doc, path)
    return path


def library_for(needs, flag: str | os.PathLike | None = None) -> str | None:
    """The library a run uses: the resolved ``library`` when it exists (methods that do not
    need one may still use it, e.g. MIDI's size priors), None when absent and not needed.

    A needed library that is not there is an InputError saying where the path came from and
    how to fix it, before any work.
    """
    setting = resolve("library", flag)
    folder = Path(setting.value)
    if (folder / "library.json").is_file() or ("library" not in needs and setting.source == "flag"):
        return setting.value
    if "library" not in needs:
        return None
    origin = "" if setting.source == "flag" else f" (the library from {setting.source})"
    raise InputError(f"{folder}: not an asset library (no library.json){origin}; build one with "
                     f"`scenewright library build -o {folder}`, or choose one with --library DIR or "
                     "`scenewright config set library DIR`")


def device_overrides(settings_class, config_file=None, overrides=(), flag: str | None = None) -> list[str]:
    """``overrides`` with ``device=<the resolved device>`` put first when the method's settings
    have a ``device`` field and the device was chosen (flag, environment or settings file).

    A ``device`` in ``overrides`` (``--set``) always wins; one in the method's ``--config``
    file wins over the environment and the settings file, not over the ``--device`` flag.
    """
    import dataclasses
    overrides = list(overrides)
    if not dataclasses.is_dataclass(settings_class) or "device" not in {
            f.name for f in dataclasses.fields(settings_class)}:
        return overrides
    setting = resolve("device", flag)
    if setting.source == "default":
        return overrides
    if setting.source != "flag" and config_file is not None:
        from scenewright.settings import load_config
        if "device" in load_config(config_file):
            return overrides
    return [f"device={setting.value}", *overrides]


# -- scenewright config [show | set KEY VALUE | unset KEY] -------------------------------------
def _show(args) -> int:
    rows = show()
    width = max(len(s.key) for s in rows)
    print(f"# settings file: {settings_file()}" + ("" if settings_file().is_file() else " (not written yet)"))
    for s in rows:
        print(f"{s.key:<{width}} = {s.value}    # from {s.source}")
    return 0


def _set(args) -> int:
    path = set_value(args.key, args.value)
    print(f"{args.key} = {read_file(path)[args.key]}    # written to {path}")
    effective = resolve(args.key)
    if effective.source != str(path):
        print(f"note: {effective.source} overrides it: {args.key} is {effective.value}")
    return 0


def _unset(args) -> int:
    path = unset_value(args.key)
    effective = resolve(args.key)
    print(f"{args.key} removed from {path}; now {effective.value} (from {effective.source})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("config", help="settings every command reads: library, models folder, device",
                       description="Show or change the persistent settings. Each is read from the command's "
                                   "flag, else the environment (" + ", ".join(f"${k.env}" for k in KEYS.values())
                                   + "), else the settings file ($" + CONFIG_ENV + ", else "
                                   "~/.config/scenewright/config.toml), else the default.")
    p.set_defaults(func=_show)
    what = p.add_subparsers(dest="config_action")
    what.add_parser("show", help="every setting, its value and where it came from").set_defaults(func=_show)
    s = what.add_parser("set", help="store a setting in the settings file")
    s.add_argument("key", choices=list(KEYS), help="; ".join(f"{n}: {k.meaning}" for n, k in KEYS.items()))
    s.add_argument("value")
    s.set_defaults(func=_set)
    u = what.add_parser("unset", help="remove a setting from the settings file")
    u.add_argument("key", choices=list(KEYS))
    u.set_defaults(func=_unset)
