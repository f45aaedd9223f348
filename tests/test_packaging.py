"""The package as a user gets it: a wheel built from the sources, installed into a fresh
virtual environment, gives every command.

Offline: the fresh environment sees this machine's installed packages through a ``.pth``
line (standing in for what ``pip install "scenewright[all]"`` fetches from PyPI), and the
test checks that they satisfy every requirement ``scenewright[all]`` declares — the check
pip itself makes. scenewright itself comes only from the wheel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CAPTURE = REPO / "examples" / "living_room" / "capture"
TEST_ONLY = {"pytest", "pytest-timeout", "playwright"}     # requirements.txt lines no command needs
EXTRAS_FOR_COMMANDS = {"app": "gradio", "batch": "ray", "usd": "usd-core", "blend": "bpy"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources (the build leaves nothing in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "scenewright", src / "scenewright", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "examples", src / "examples")
    dist = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", str(src), "-w", str(dist)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (built,) = dist.glob("scenewright-*.whl")
    return built


def metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(name).decode())


def test_wheel_metadata(wheel):
    import scenewright
    meta = metadata(wheel)
    assert meta["Version"] == scenewright.__version__
    assert wheel.name.startswith(f"scenewright-{scenewright.__version__}-")
    assert meta["Author"] and meta["License-Expression"] == "Apache-2.0"
    # the one compiled part (retrieval's grid search) is in the wheel when this machine has a C
    # compiler (the CI's has): the wheel is then for this platform, not py3-none-any
    if shutil.which("cc") or shutil.which("gcc"):
        with zipfile.ZipFile(wheel) as z:
            assert any(n.startswith("scenewright/geometry/_grid_nearest.") and n.endswith(".so") for n in z.namelist())
        assert not wheel.name.endswith("-py3-none-any.whl")
    classifiers = meta.get_all("Classifier")
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert set(meta.get_all("Provides-Extra")) >= {"app", "batch", "usd", "blend", "all"}
    requires = meta.get_all("Requires-Dist")
    for extra, package in EXTRAS_FOR_COMMANDS.items():
        assert any(r.startswith(package) and f'extra == "{extra}"' in r for r in requires), (extra, package)
    # the version is written once: pyproject.toml takes it from the package
    import tomllib
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "scenewright.__version__"}


def all_requirements(requires: list[str]) -> list:
    """The requirements ``scenewright[all]`` brings, the extras it names followed."""
    from packaging.requirements import Requirement
    parsed = [Requirement(r) for r in requires]
    wanted, todo = set(), ["all"]
    while todo:
        extra = todo.pop()
        if extra in wanted:
            continue
        wanted.add(extra)
        for req in parsed:
            if req.marker is not None and req.marker.evaluate({"extra": extra}) and req.name == "scenewright":
                todo += list(req.extras)
    out = []
    for req in parsed:
        if req.name == "scenewright":
            continue
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in wanted):
            out.append(req)
    return out


def test_all_extra_covers_requirements_txt(wheel):
    """Every runtime package the setup pins (requirements.txt) is in ``scenewright[all]``."""
    declared = {normalise(r.name) for r in all_requirements(metadata(wheel).get_all("Requires-Dist"))}
    pinned = set()
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            pinned.add(normalise(re.split(r"[=<>!~\[ ]", line)[0]))
    assert pinned - {normalise(n) for n in TEST_ONLY} - declared == set()


def test_fresh_venv_gets_every_command(wheel, tmp_path):
    venv = tmp_path / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    fresh_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                     capture_output=True, text=True, check=True).stdout.strip())
    # what PyPI would provide: this machine's packages, after the venv's own (a path line only:
    # the .pth files there, e.g. an editable scenewright, are not run)
    (fresh_site / "machine-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config-home")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                              "--no-index", str(wheel)], capture_output=True, text=True, env=env, timeout=300)
    assert install.returncode == 0, install.stderr

    # scenewright[all]'s requirements are all met in the fresh environment
    wanted = [str(r) for r in all_requirements(metadata(wheel).get_all("Requires-Dist"))]
    check = subprocess.run([str(python), "-c", CHECK_ALL, json.dumps(wanted)], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=120)
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    assert report["unmet"] == [] and len(wanted) > 20
    assert report["scenewright_from"].startswith(str(venv)), report
    if shutil.which("cc") or shutil.which("gcc"):      # the compiled grid search loads from the wheel
        compiled = subprocess.run([str(python), "-c", "from scenewright.geometry import nearest; "
                                   "print(nearest._grid_nearest.__file__)"],
                                  capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert compiled.returncode == 0 and compiled.stdout.strip().startswith(str(venv)), compiled

    cli = venv / "bin" / "scenewright"
    run = lambda *args: subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True,  # noqa: E731
                                       env=env, cwd=tmp_path, timeout=300)
    version = run("--version")
    import scenewright
    assert version.stdout.strip() == f"scenewright {scenewright.__version__}"
    usage = run("--help").stdout
    for command in ("library", "bench", "eval", "render", "perceive", "reconstruct", "demo", "train", "models",
                    "export", "settle", "batch", "app", "generate", "config"):
        assert re.search(rf"\b{command}\b", usage.split("positional arguments")[0]), command
    # the example capture `demo` and the web page offer comes with the wheel
    where = subprocess.run([str(python), "-c", "from scenewright.demo import EXAMPLE; from scenewright.app.jobs "
                            "import REPO_EXAMPLES; print(EXAMPLE); print(REPO_EXAMPLES)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    example, examples = map(Path, where.stdout.split())
    assert example.is_relative_to(venv) and example.parent.parent == examples
    assert sorted(p.name for p in example.iterdir()) == sorted(p.name for p in EXAMPLE_CAPTURE.iterdir())
    done = run("reconstruct", example, "-o", "scene", "--method", "boxes", "--no-preview", "-q")
    assert done.returncode == 0, done.stderr
    usdz = run("export", "scene", "-o", "scene.usdz", "-q")
    assert usdz.returncode == 0, usdz.stderr
    assert zipfile.is_zipfile(tmp_path / "scene.usdz")
    assert run("config", "show").stdout.count("# from default") == 3


CHECK_ALL = r"""
import json, sys, importlib.metadata as md
from packaging.requirements import Requirement
import scenewright
# argv[1]: the requirements scenewright[all] brings (all_requirements of the installed wheel)
unmet = []
for r in map(Requirement, json.loads(sys.argv[1])):
    try:
        version = md.version(r.name)
    except md.PackageNotFoundError:
        unmet.append(f"{r} (not installed)")
        continue
    if not r.specifier.contains(version, prereleases=True):
        unmet.append(f"{r} (have {version})")
print(json.dumps({"unmet": unmet, "scenewright_from": scenewright.__file__}))
"""
