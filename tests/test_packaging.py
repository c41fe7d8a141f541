"""Packaging: reading runs without the training extra, commands that need it say which to install,
and the install files agree with each other."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "assets" / "example-paper-1.png"
TRAINING = ("keras", "tensorflow", "h5py", "onnx", "tf2onnx", "jax", "jaxlib")
# Makes the training extra's modules unimportable, as in an install of requirements.txt alone.
BLOCK = f"""
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {TRAINING!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, _Block())
"""


def run_without_training(code: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


def run_cli_without_training(*args: str) -> subprocess.CompletedProcess:
    return run_without_training("import sys\nfrom htr.__main__ import main\nsys.exit(main(sys.argv[1:]))", *args)


def test_reading_imports_no_training_modules():
    result = run_without_training(f"""
import htr, htr.cli, htr.page, htr.ink, htr.heatmap, htr.spelling, htr.lm.decoder
from htr import Recognizer
from htr.paths import default_model_dir
recognizer = Recognizer.load(default_model_dir())
assert recognizer.runtime == "onnx", recognizer.runtime
print(recognizer.recognize({str(EXAMPLE)!r}, decoder="lm").text)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {TRAINING!r})
assert not loaded, loaded
""")
    assert result.returncode == 0, result.stderr
    assert "Roman road" in result.stdout


def test_predict_runs_without_training_modules():
    result = run_cli_without_training("predict", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "Roman road" in result.stdout


@pytest.mark.parametrize("args", [
    ("train", "--data", "nowhere", "--model-dir", "nowhere"),
    ("export",),
    ("average", "--run", "nowhere", "--model-dir", "nowhere"),
    ("widen", "--from", "model", "--model-dir", "nowhere"),
    ("adapt", "labels.tsv", "--out", "nowhere"),
])
def test_training_commands_without_the_extra_say_what_to_install(args):
    result = run_cli_without_training(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: htr {args[0]} needs the training extra")
    assert 'pip install "htr[train]"' in lines[0] and "requirements-dev.txt" in lines[0]


def test_stale_onnx_without_keras_says_what_to_install(tmp_path):
    import shutil

    model = shutil.copytree(ROOT / "model", tmp_path / "model")
    with open(model / "model.weights.h5", "ab") as handle:
        handle.write(b"\0")  # other weights than model.onnx was exported from
    result = run_cli_without_training("predict", "--model-dir", str(model), str(EXAMPLE))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "exported from other weights" in result.stderr and 'pip install "htr[train]"' in result.stderr


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line)
        if match:
            pins[match[1].lower().replace("_", "-")] = match[2]
    return pins


def test_install_files_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = _pins(project["dependencies"])
    extras = {name: _pins(deps) for name, deps in project["optional-dependencies"].items()}
    requirements = _pins((ROOT / "requirements.txt").read_text().splitlines())
    assert not set(requirements) & {"tensorflow", "tensorflow-cpu", "keras", "h5py", "tf2onnx", "onnx", "jax"}
    assert set(base) <= set(requirements)  # the quick start reads like the package
    for name, pins in [("base", base), *extras.items()]:
        for package, version in pins.items():
            for other in [base, *extras.values(), requirements]:
                assert other.get(package, version) == version, (name, package)
    assert set(extras["app"]) <= set(requirements)
    assert "-e .[app,dashboard,train,ray,dev]" in (ROOT / "requirements-dev.txt").read_text()
    assert "ray" not in requirements  # the reading install stays without Ray


def test_no_sys_path_tricks():
    offenders = [str(path.relative_to(ROOT)) for path in ROOT.rglob("*.py")
                 if ".venv" not in path.parts and "sys.path." + "insert" in path.read_text(errors="ignore")]
    assert offenders == [], offenders
