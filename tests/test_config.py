"""Settings that persist (``scenewright.config``, ``scenewright config``): the library, the
models folder and the device come from the flag, else the environment, else the settings
file, else the default, and every command reads them the same way.

Commands run as subprocesses from a folder that is not the repository, with a fresh
``XDG_CONFIG_HOME``, so nothing of this machine's own settings leaks in.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from scenewright import config

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CAPTURE = REPO / "examples" / "living_room" / "capture"
VARIABLES = ("SCENEWRIGHT_CONFIG", "SCENEWRIGHT_LIBRARY", "SCENEWRIGHT_MODELS", "SCENEWRIGHT_DEVICE")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh settings home: no settings file, no SCENEWRIGHT_* variables."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def sw(*args, cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                **(env or {})}
    return subprocess.run([sys.executable, "-m", "scenewright", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def test_precedence_flag_environment_file_default(home, monkeypatch):
    file = config.settings_file()
    assert file == home / "config-home" / "scenewright" / "config.toml"
    assert config.resolve("device") == config.Setting("device", "cpu", "default")
    assert config.resolve("models").value == str(home / "cache-home" / "scenewright" / "models")

    config.set_value("device", "cuda")
    config.set_value("library", str(home / "lib-from-file"))
    assert config.resolve("device") == config.Setting("device", "cuda", str(file))
    assert config.resolve("library").value == str(home / "lib-from-file")

    monkeypatch.setenv("SCENEWRIGHT_DEVICE", "cpu")
    monkeypatch.setenv("SCENEWRIGHT_LIBRARY", str(home / "lib-from-env"))
    assert config.resolve("device") == config.Setting("device", "cpu", "$SCENEWRIGHT_DEVICE")
    assert config.resolve("library").value == str(home / "lib-from-env")

    assert config.resolve("device", flag="cuda") == config.Setting("device", "cuda", "flag")
    assert config.resolve("library", flag=home / "lib-from-flag").value == str(home / "lib-from-flag")

    monkeypatch.delenv("SCENEWRIGHT_DEVICE")
    config.unset_value("device")
    assert config.resolve("device").source == "default"


def test_settings_file_from_environment_variable(home, monkeypatch):
    elsewhere = home / "elsewhere" / "my.toml"
    monkeypatch.setenv("SCENEWRIGHT_CONFIG", str(elsewhere))
    assert config.settings_file() == elsewhere
    config.set_value("models", str(home / "models"))
    assert elsewhere.is_file() and not (home / "config-home").exists()
    assert config.resolve("models") == config.Setting("models", str(home / "models"), str(elsewhere))


def test_models_folder_lookup_reads_the_settings(home, monkeypatch):
    from scenewright.models.folder import model_folder, models_dir
    config.set_value("models", str(home / "from-file"))
    assert models_dir() == home / "from-file"
    monkeypatch.setenv("SCENEWRIGHT_MODELS", str(home / "from-env"))
    assert models_dir() == home / "from-env"
    assert models_dir(home / "from-flag") == home / "from-flag"
    (home / "from-env" / "depth").mkdir(parents=True)
    (home / "from-env" / "depth" / "config.json").write_text("{}")
    assert model_folder("depth") == home / "from-env" / "depth"


def test_set_keeps_comments_and_other_keys_and_writes_atomically(home):
    file = config.settings_file()
    file.parent.mkdir(parents=True)
    file.write_text('# my settings\ndevice = "cpu"   # laptop\n')
    old_umask = os.umask(0o022)
    try:
        config.set_value("library", str(home / "lib"))
    finally:
        os.umask(old_umask)
    text = file.read_text()
    assert "# my settings" in text and "# laptop" in text
    assert config.read_file(file) == {"device": "cpu", "library": str(home / "lib")}
    assert stat.S_IMODE(file.stat().st_mode) == 0o644
    assert sorted(p.name for p in file.parent.iterdir()) == ["config.toml"]     # no temporary left


def test_stored_folders_are_absolute(home, monkeypatch):
    monkeypatch.chdir(home)
    config.set_value("library", "relative/lib")
    assert config.read_file()["library"] == str(home / "relative" / "lib")


@pytest.mark.parametrize("text, problem", [
    ("library = [", "not valid TOML"),
    ('libary = "/x"\n', "unknown setting 'libary'"),
    ("device = 3\n", "device must be a string"),
    ('device = "gpu"\n', "device 'gpu': expected one of cpu, cuda"),
])
def test_a_bad_settings_file_is_named(home, text, problem):
    file = config.settings_file()
    file.parent.mkdir(parents=True)
    file.write_text(text)
    with pytest.raises(config.InputError) as err:
        config.resolve("library")
    assert str(err.value).startswith(f"{file}: ") and problem in str(err.value)
    before = file.read_text()
    with pytest.raises(config.InputError):
        config.set_value("library", str(home))
    assert file.read_text() == before                   # a broken file is not replaced


def test_bad_values_are_refused(home, monkeypatch):
    with pytest.raises(config.InputError, match="device 'tpu'"):
        config.set_value("device", "tpu")
    with pytest.raises(config.InputError, match="not a setting"):
        config.set_value("colour", "red")
    monkeypatch.setenv("SCENEWRIGHT_DEVICE", "tpu")
    with pytest.raises(config.InputError, match=r"^\$SCENEWRIGHT_DEVICE: device 'tpu'"):
        config.resolve("device")
    assert not config.settings_file().exists()


def test_config_command_show_set_unset(home, tmp_path):
    cwd = tmp_path / "anywhere"
    cwd.mkdir()
    env = {"XDG_CONFIG_HOME": str(home / "config-home")}
    shown = sw("config", "show", cwd=cwd, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "device  = cpu    # from default" in shown.stdout

    done = sw("config", "set", "library", "lib", cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    file = home / "config-home" / "scenewright" / "config.toml"
    assert config.read_file(file) == {"library": str(cwd / "lib")}

    shown = sw("config", cwd=cwd, env={**env, "SCENEWRIGHT_DEVICE": "cuda"})
    assert f"library = {cwd / 'lib'}    # from {file}" in shown.stdout
    assert "device  = cuda    # from $SCENEWRIGHT_DEVICE" in shown.stdout

    masked = sw("config", "set", "library", "other", cwd=cwd, env={**env, "SCENEWRIGHT_LIBRARY": "/env/lib"})
    assert "note: $SCENEWRIGHT_LIBRARY overrides it" in masked.stdout

    done = sw("config", "unset", "library", cwd=cwd, env=env)
    assert done.returncode == 0 and config.read_file(file) == {}

    bad = sw("config", "set", "device", "gpu", cwd=cwd, env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: device 'gpu'")


def test_reconstruct_finds_the_configured_library_from_any_folder(home, tmp_path, small_library, small_bench):
    """The layout method needs a library: started in an unrelated folder with no --library,
    it uses the one the settings file names; without settings it says where it looked."""
    cwd = tmp_path / "anywhere"
    cwd.mkdir()
    capture = small_bench / "scene_0000" / "capture"
    env = {"XDG_CONFIG_HOME": str(home / "config-home")}
    missing = sw("reconstruct", capture, "-o", "out0", "--no-preview", cwd=cwd,
                 env={**env, "SCENEWRIGHT_LIBRARY": str(tmp_path / "no-library")})
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"error: {tmp_path / 'no-library'}: not an asset library")
    assert "from $SCENEWRIGHT_LIBRARY" in missing.stderr and "scenewright config set library" in missing.stderr
    assert not (cwd / "out0").exists()

    assert sw("config", "set", "library", small_library, cwd=cwd, env=env).returncode == 0
    done = sw("reconstruct", capture, "-o", "out", "--no-preview", "--set", "pose.render_size=64",
              cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    scene = json.loads((cwd / "out" / "scene.json").read_text())
    assert scene["method"]["name"] == "layout"
    assert all(inst["asset_id"] for inst in scene["instances"])


def test_device_reaches_the_method_settings(home, tmp_path, tiny_midi):
    """MIDI's ``device`` setting comes from the settings too (here cuda, which this CPU
    machine refuses before any work); ``--set device=cpu`` wins over the environment."""
    import torch
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA to see the device refused")
    from scenewright.config import device_overrides
    from scenewright.methods.midi.pipeline import MIDISettings
    from scenewright.methods.boxes import BoxesSettings
    config.set_value("device", "cuda")
    assert device_overrides(MIDISettings, None, ["steps=2"]) == ["device=cuda", "steps=2"]
    assert device_overrides(BoxesSettings, None, ["x=1"]) == ["x=1"]         # no device field
    method_file = tmp_path / "midi.toml"
    method_file.write_text('device = "cpu"\n')
    assert device_overrides(MIDISettings, method_file, []) == []             # the --config file wins
    assert device_overrides(MIDISettings, method_file, [], flag="cuda") == ["device=cuda"]

    cwd = tmp_path / "anywhere"
    cwd.mkdir()
    env = {"XDG_CONFIG_HOME": str(home / "config-home"), "SCENEWRIGHT_DEVICE": "cuda"}
    args = ["reconstruct", EXAMPLE_CAPTURE, "-o", "out", "--method", "midi", "--weights", tiny_midi,
            "--no-preview", "--set", "steps=1", "--set", "octree_depth=4"]
    refused = sw(*args, cwd=cwd, env=env)
    assert refused.returncode == 2 and "device cuda: no CUDA device" in refused.stderr
    assert not (cwd / "out").exists()
    done = sw(*args, "--set", "device=cpu", cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads((cwd / "out" / "scene.json").read_text())["method"]["settings"]["device"] == "cpu"


def test_web_page_and_batch_default_to_the_configured_library(home, tmp_path):
    from scenewright.app.jobs import AppSettings
    from scenewright.batch.settings import BatchSettings
    config.set_value("library", str(tmp_path / "lib"))
    assert AppSettings().library == str(tmp_path / "lib")
    assert BatchSettings().library == str(tmp_path / "lib")


def test_default_library_is_not_relative_to_the_current_folder(home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = config.resolve("library")
    assert first.source == "default" and Path(first.value).is_absolute()
    monkeypatch.chdir(REPO)
    assert config.resolve("library").value == first.value


def test_no_bare_data_library_defaults_left():
    """No command reads ``data/library`` relative to where it was started."""
    offenders = []
    for path in (REPO / "scenewright").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if 'default="data/library"' in line or '= "data/library"' in line:
                offenders.append(f"{path.relative_to(REPO)}:{number}")
    assert offenders == []


def test_device_reaches_perception(home, monkeypatch):
    """``reconstruct``/``perceive`` without ``--device`` run the perception models on the
    configured device; the flag wins."""
    from scenewright.perception.cli import settings_from_args
    args = build_args(["perceive", "photo.jpg", "-o", "cap"])
    assert args.device is None and settings_from_args(args).device == "cpu"
    monkeypatch.setenv("SCENEWRIGHT_DEVICE", "cuda")
    assert settings_from_args(args).device == "cuda"
    assert settings_from_args(build_args(["perceive", "photo.jpg", "-o", "cap", "--device", "cpu"])).device == "cpu"


def build_args(argv):
    from scenewright.cli import build_parser
    return build_parser().parse_args(argv)


def test_web_page_jobs_use_the_configured_device(home, monkeypatch):
    from scenewright.app.jobs import JobRequest
    monkeypatch.setenv("SCENEWRIGHT_DEVICE", "cuda")
    request = JobRequest(method="midi", overrides=("steps=2",))
    import torch
    if not torch.cuda.is_available():      # the device reaches the settings: refused on a CPU machine
        with pytest.raises(config.InputError, match="device cuda"):
            request.settings()
    assert JobRequest(method="midi", overrides=("device=cpu",)).settings().device == "cpu"
