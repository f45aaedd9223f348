"""The same output options on every command: ``-q/--quiet`` (no progress bars, no warnings),
``-v/--verbose`` (info, ``-vv`` debug) and ``--log-level``.

Progress bars are drawn by rich only on a terminal; ``TTY_COMPATIBLE=1`` makes rich draw
them into the captured stderr, as a terminal would show them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scenewright.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CAPTURE = REPO / "examples" / "living_room" / "capture"
BAR = "━"          # rich's bar character


def commands(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                path = f"{prefix} {name}".strip()
                if child.get_default("func") is not None:
                    yield path, child
                yield from commands(child, path)


def sw(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                "XDG_CONFIG_HOME": str(cwd / "config-home"), "TTY_COMPATIBLE": "1", "COLUMNS": "120",
                **(env or {})}
    for variable in ("SCENEWRIGHT_CONFIG", "SCENEWRIGHT_LIBRARY", "SCENEWRIGHT_DEVICE"):
        full_env.pop(variable, None)
    return subprocess.run([sys.executable, "-m", "scenewright", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=600)


def test_every_command_has_the_output_options():
    found = dict(commands(build_parser()))
    assert {"reconstruct", "export", "batch", "library build", "train midi", "config set", "app"} <= set(found)
    missing = []
    for name, parser in found.items():
        options = parser._option_string_actions
        for flag in ("-q", "--quiet", "-v", "--verbose", "--log-level"):
            if flag not in options:
                missing.append(f"{name} {flag}")
        if "-q" in options:
            assert options["-q"].dest == "quiet", name      # one meaning: args.quiet
    assert missing == []


def _described(parser: argparse.ArgumentParser) -> list:
    """What a parser accepts: every action's flags, destination, default, choices and nargs, and
    its subcommands' the same way."""
    out = []
    for action in parser._actions:
        out.append((tuple(action.option_strings), action.dest, repr(action.default),
                    tuple(action.choices) if action.choices is not None else None, action.nargs))
        if isinstance(action, argparse._SubParsersAction):
            out.extend((name, _described(child)) for name, child in action.choices.items())
    return out


def test_a_command_parser_built_alone_is_the_full_parsers():
    """``main`` builds the parser of the command it runs only (not every command's module):
    each command parses the same there as in the parser of every command."""
    from scenewright.cli import COMMAND_MODULES
    full = dict(commands(build_parser()))
    names = {name for registered in COMMAND_MODULES.values() for name in registered}
    top = {path.split()[0] for path in full}
    assert names == top
    for name in sorted(names):
        alone = {path: parser for path, parser in commands(build_parser(name)) if path.split()[0] == name}
        mine = {path: parser for path, parser in full.items() if path.split()[0] == name}
        assert alone.keys() == mine.keys(), name
        for path in mine:
            assert _described(alone[path]) == _described(mine[path]), path


def test_running_one_command_imports_no_other_commands_module(tmp_path):
    script = ("import sys\nfrom scenewright.cli import main\nmain(['config', 'show'])\n"
              "print(sorted(m for m in sys.modules if m.endswith('.cli') or m == 'scenewright.config'))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENEWRIGHT_")}
    env.update(PYTHONPATH=str(REPO), XDG_CONFIG_HOME=str(tmp_path / "config-home"))
    proc = subprocess.run([sys.executable, "-P", "-c", script], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "['scenewright.cli', 'scenewright.config']"


@pytest.mark.parametrize("argv, level, quiet", [
    ([], "WARNING", False), (["-q"], "ERROR", True), (["-v"], "INFO", False), (["-vv"], "DEBUG", False),
    (["--log-level", "error"], "ERROR", False), (["-q", "--log-level", "INFO"], "INFO", True),
])
def test_levels(argv, level, quiet):
    import logging

    from scenewright.cli import log_level
    args = build_parser().parse_args(["config", "show", *argv])
    assert logging.getLevelName(log_level(args)) == level and args.quiet is quiet


@pytest.fixture
def capture_with_a_warning(tmp_path) -> Path:
    """The shipped capture with an instances.json id that seg.png lacks (a warning, not an error)."""
    capture = tmp_path / "capture"
    shutil.copytree(EXAMPLE_CAPTURE, capture)
    data = json.loads((capture / "instances.json").read_text())
    data["instances"].append({"id": 200, "label": "ghost"})
    (capture / "instances.json").write_text(json.dumps(data))
    return capture


def test_quiet_and_verbose_on_reconstruct(tmp_path, capture_with_a_warning):
    run = lambda out, *flags: sw("reconstruct", capture_with_a_warning, "-o", out, "--method", "boxes",  # noqa: E731
                                 "--no-preview", *flags, cwd=tmp_path)
    plain = run("plain")
    assert plain.returncode == 0, plain.stderr
    assert "warning: " in plain.stderr and "200" in plain.stderr
    assert "info: " not in plain.stderr
    assert plain.stdout.startswith("wrote plain")

    quiet = run("quiet", "-q")
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout.startswith("wrote quiet")

    only_errors = run("errors", "--log-level", "error")
    assert only_errors.returncode == 0 and only_errors.stderr == ""

    verbose = run("verbose", "-v")
    assert verbose.returncode == 0
    assert "info: settings: library " in verbose.stderr and "(from default)" in verbose.stderr
    assert "warning: " in verbose.stderr

    bad = run("plain", "-q")              # errors still show under -q
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")


def test_quiet_hides_the_progress_bars(tmp_path, small_library, small_bench):
    capture = small_bench / "scene_0000" / "capture"
    args = ["reconstruct", capture, "--library", small_library, "--no-preview", "--set", "pose.render_size=64"]
    shown = sw(*args, "-o", "shown", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert BAR in shown.stderr
    quiet = sw(*args, "-o", "quiet", "-q", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    # the same scene either way (apart from timings)
    a, b = (json.loads((tmp_path / name / "scene.json").read_text()) for name in ("shown", "quiet"))
    assert [i["asset_id"] for i in a["instances"]] == [i["asset_id"] for i in b["instances"]]


def test_quiet_on_export_and_its_own_quiet_flags(tmp_path, small_library):
    """Commands that had their own ``--quiet`` (library, bench, settle) take ``-q`` for it too."""
    scene = tmp_path / "scene"
    from scenewright import reconstruct
    reconstruct(EXAMPLE_CAPTURE, scene, method="boxes", preview=False)
    shown = sw("export", scene, "-o", tmp_path / "a.glb", cwd=tmp_path)
    quiet = sw("export", scene, "-o", tmp_path / "b.glb", "-q", cwd=tmp_path)
    assert shown.returncode == quiet.returncode == 0, shown.stderr + quiet.stderr
    assert quiet.stderr == "" and (tmp_path / "b.glb").stat().st_size > 0
    info = sw("library", "info", small_library, "-q", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
