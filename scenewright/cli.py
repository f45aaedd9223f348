"""The command line: thin; every command is a library call.

Each area owns a small ``cli`` module with ``register(subparsers)``, which adds its
command and sets ``func`` to a function taking the parsed arguments. Those modules
import heavy dependencies (torch, moderngl) only inside the functions, so
``scenewright --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from scenewright import __version__
from scenewright.errors import ScenewrightError

# Each command module and the commands it registers: running one command imports only the
# modules that register it (the others import trimesh, Ray, MuJoCo helpers, the web page...).
COMMAND_MODULES = {
    "scenewright.library.cli": ("library",),            # library build | info
    "scenewright.bench.cli": ("bench",),                # bench make
    "scenewright.evaluate.cli": ("eval",),              # eval
    "scenewright.render.cli": ("render",),              # render
    "scenewright.perception.cli": ("perceive",),        # perceive (photo → capture)
    "scenewright.methods.cli": ("reconstruct", "demo"),
    "scenewright.methods.midi.train.cli": ("train",),   # train midi
    "scenewright.models.cli": ("models",),              # models download | list
    "scenewright.export.cli": ("export",),              # export (glb, usd, blend)
    "scenewright.physics.cli": ("settle",),             # settle (MuJoCo: what moves under gravity)
    "scenewright.batch.cli": ("batch",),                # batch (many captures, on Ray)
    "scenewright.app.cli": ("app",),                    # app (the web page)
    "scenewright.text.cli": ("generate", "train"),      # generate (text → scene), train image-lora
    "scenewright.config": ("config",),                  # config show | set | unset
}


def train_subcommands(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The subcommands of ``scenewright train``, made once; each area adds its own (midi, image-lora)."""
    parser = sub.choices.get("train")
    if parser is None:
        parser = sub.add_parser("train", help="train models on our own rooms (midi, image-lora)")
        parser.train_subcommands = parser.add_subparsers(dest="train_what", required=True)
    return parser.train_subcommands


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``command`` (one of :data:`COMMAND_MODULES`' commands)
    only of the modules that register it: the same parser for that command, without importing
    the others' modules."""
    parser = argparse.ArgumentParser(prog="scenewright", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"scenewright {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, commands in COMMAND_MODULES.items():
        if command is not None and command not in commands:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):   # area not built yet
                continue
            raise
        module.register(sub)
    for command in _commands(parser):
        add_output_options(command)
    return parser


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _commands(parser: argparse.ArgumentParser):
    """Every parser below ``parser`` that runs something (has a ``func``), depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):     # aliases map to the same parser
                if child.get_default("func") is not None:
                    yield child
                yield from _commands(child)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``-q/--quiet``, ``-v/--verbose`` and ``--log-level``, the same on every command.

    A command that already has ``--quiet`` keeps it (its ``args.quiet`` then also means
    ``-q``). A parser with subcommands gets them without defaults, so ``config -q show`` and
    ``config show -q`` are the same.
    """
    has = parser._option_string_actions
    leaf = not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
    default = (lambda value: value) if leaf else (lambda value: argparse.SUPPRESS)
    group = parser.add_argument_group("output (every command)")
    if "--quiet" in has and "-q" not in has:
        quiet = has["--quiet"]
        quiet.option_strings.insert(0, "-q")
        has["-q"] = quiet
    elif "--quiet" not in has:
        group.add_argument("-q", "--quiet", action="store_true", default=default(False),
                           help="no progress bars, no warnings (errors and results only)")
    if "--verbose" not in has:
        group.add_argument("-v", "--verbose", action="count", default=default(0),
                           help="more messages: -v info, -vv debug")
    if "--log-level" not in has:
        group.add_argument("--log-level", choices=LOG_LEVELS, default=default(None), type=str.lower,
                           help="messages shown on stderr from this level up (wins over -q/-v; default warning)")


def log_level(args: argparse.Namespace) -> int:
    """The logging level ``-q``/``-v``/``--log-level`` ask for (default: warnings and errors)."""
    if getattr(args, "log_level", None):
        return getattr(logging, args.log_level.upper())
    if getattr(args, "quiet", False):
        return logging.ERROR
    verbose = getattr(args, "verbose", 0) or 0
    return logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING


class _WarningLine(logging.Formatter):
    """``warning: <message>`` — the same one-line shape as the CLI's ``error:`` lines."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info:      # a logged exception keeps its traceback (the web page's server log)
            line += "\n" + self.formatException(record.exc_info)
        return line


def _log_to_stderr(level: int = logging.WARNING) -> None:
    """What the library logs at ``level`` or above (by default warnings, e.g. an instances.json
    id absent from seg.png) reaches the user as one line each on stderr."""
    logger = logging.getLogger("scenewright")
    handler = next((h for h in logger.handlers if getattr(h, "_scenewright_cli", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_WarningLine())
        handler._scenewright_cli = True
        logger.addHandler(handler)
    handler.setLevel(level)
    # below warnings the logger itself must let the records through; else it inherits (warning)
    logger.setLevel(level if level < logging.WARNING else logging.NOTSET)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # before the command modules import numpy: OpenBLAS reads its thread count once, when loaded
    from scenewright.blas_threads import limit_at_start_up
    command = next((a for a in argv if not a.startswith("-")), None)
    limit_at_start_up(command)
    known = any(command in commands for commands in COMMAND_MODULES.values())
    # the first word is the command unless an option before it takes a value (none does today)
    args = build_parser(command if known and argv[0] == command else None).parse_args(argv)
    _log_to_stderr(log_level(args))
    from scenewright.progress import silence
    silence(bool(getattr(args, "quiet", False)))
    try:
        if logging.getLogger("scenewright").isEnabledFor(logging.INFO):
            from scenewright.config import show
            logging.getLogger("scenewright.config").info(
                "settings: " + "; ".join(f"{s.key} {s.value} (from {s.source})" for s in show()))
        result = args.func(args)
    except ScenewrightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
