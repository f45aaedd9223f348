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

COMMAND_MODULES = [
    "scenewright.library.cli",      # library build | info
    "scenewright.bench.cli",        # bench make
    "scenewright.evaluate.cli",     # eval
    "scenewright.render.cli",       # render
    "scenewright.perception.cli",   # perceive (photo → capture)
    "scenewright.methods.cli",      # reconstruct, demo
    "scenewright.methods.midi.train.cli",   # train midi
    "scenewright.models.cli",       # models download | list
    "scenewright.export.cli",       # export (glb, usd, blend)
    "scenewright.physics.cli",      # settle (MuJoCo: what moves under gravity)
    "scenewright.batch.cli",        # batch (many captures, on Ray)
    "scenewright.app.cli",          # app (the web page)
    "scenewright.text.cli",         # generate (text → scene)
    "scenewright.config",           # config show | set | unset
]


def train_subcommands(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The subcommands of ``scenewright train``, made once; each area adds its own (midi, image-lora)."""
    parser = sub.choices.get("train")
    if parser is None:
        parser = sub.add_parser("train", help="train models on our own rooms (midi, image-lora)")
        parser.train_subcommands = parser.add_subparsers(dest="train_what", required=True)
    return parser.train_subcommands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scenewright", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"scenewright {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):   # area not built yet
                continue
            raise
        module.register(sub)
    return parser


class _WarningLine(logging.Formatter):
    """``warning: <message>`` — the same one-line shape as the CLI's ``error:`` lines."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info:      # a logged exception keeps its traceback (the web page's server log)
            line += "\n" + self.formatException(record.exc_info)
        return line


def _log_warnings_to_stderr() -> None:
    """What the library logs at WARNING or above (e.g. an instances.json id absent from seg.png)
    reaches the user as one line on stderr."""
    logger = logging.getLogger("scenewright")
    if not any(getattr(h, "_scenewright_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_WarningLine())
        handler.setLevel(logging.WARNING)
        handler._scenewright_cli = True
        logger.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _log_warnings_to_stderr()
    try:
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
