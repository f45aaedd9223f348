"""Every ``scenewright`` command line the README shows is accepted by the CLI as written.

The commands themselves run end to end in each area's tests (library, bench, layout,
midi, evaluate, render); this test keeps the README and the parser from drifting apart:
the required form of each line parses, and so does each optional flag it advertises.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scenewright.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"
PLACEHOLDER_VALUES = {"N": "3", "S": "0", "DIR": "d", "LIB": "lib", "BENCH": "bench", "OUT_DIR": "out",
                      "CAPTURE_DIR": "cap", "PRED_ROOT": "pred", "SCENE_DIR": "scene", "CATALOG": "Scopia",
                      "MM": "36", "BENCH2": "bench2", "WxD": "4x3"}


def readme_commands() -> list[str]:
    """Command lines in the README's code blocks, continuation lines joined."""
    blocks = re.findall(r"```\n(.*?)```", README.read_text(), flags=re.S)
    commands: list[str] = []
    for block in blocks:
        for line in block.splitlines():
            text = line.split("#")[0].rstrip()
            if text.startswith("scenewright "):
                commands.append(text)
            elif commands and line.startswith("        [") and text:
                commands[-1] += " " + text.strip()
    return commands


def concrete(words: list[str]) -> list[str]:
    out = []
    for w in words:
        if w == "...":
            continue
        if "|" in w and not w.startswith("-"):
            w = w.split("|")[0]
        out.append(PLACEHOLDER_VALUES.get(w, w))
    return out


def variants(command: str) -> list[list[str]]:
    """The required form, then the required form plus each optional group in turn."""
    optional = re.findall(r"\[([^\]]*)\]", command)
    base = concrete(re.sub(r"\[[^\]]*\]", " ", command).split()[1:])
    forms = [base]
    for group in optional:
        words = group.split()
        flag = words[0]
        if "/" in flag:                                  # --smooth/--no-smooth
            forms += [base + [f] for f in flag.split("/")]
        elif len(words) > 1 and "|" in words[1]:         # --extraction dense|hierarchical
            forms += [base + [flag, choice] for choice in words[1].split("|")]
        else:
            forms.append(base + concrete(words))
    return forms


COMMANDS = readme_commands()


def test_readme_lists_every_command():
    heads = {" ".join(c.split()[1:3]) for c in COMMANDS}
    for expected in ["library build", "library info LIB", "bench make", "reconstruct CAPTURE_DIR",
                     "models download", "eval PRED_ROOT", "render SCENE_DIR", "demo [--library"]:
        assert any(h.startswith(expected.split()[0]) and expected.split()[1].split("[")[0] in h or
                   h.startswith(expected) for h in heads), expected
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_parses(command):
    parser = build_parser()
    for argv in variants(command):
        try:
            parser.parse_args(argv)
        except SystemExit as exc:            # argparse reports problems by exiting
            pytest.fail(f"README command does not parse: {' '.join(argv)} (from: {command}) exit {exc.code}")
