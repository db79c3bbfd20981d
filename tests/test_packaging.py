"""audioqa installs like any library: the wheel holds the whole package with its defaults and rule packs,
and the installed ``audioqa`` command works from a directory outside the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT, sample_path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (a build/ folder left in the checkout cannot leak in)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT / "audioqa", source / "audioqa", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(source)], check=True, capture_output=True, text=True)
    (found,) = out.glob("audioqa-*.whl")
    return found


def test_the_wheel_holds_every_subpackage_the_defaults_and_both_rule_packs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "audioqa").rglob("__init__.py")}
    assert {"audioqa/__init__.py", "audioqa/rules/__init__.py", "audioqa/batch/__init__.py"} <= packages
    assert packages <= names
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "audioqa").rglob("*.py")}
    assert modules <= names
    assert {"audioqa/configs/default.yaml", "audioqa/configs/rules/zh-CN.yaml",
            "audioqa/configs/rules/en.yaml"} <= names


@pytest.mark.slow
def test_the_installed_command_works_from_any_directory(wheel, tmp_path):
    """A fresh virtualenv gets the wheel; its dependencies come from this environment's site-packages
    (added by a .pth file, which does not bring this checkout's editable install along)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True, capture_output=True, text=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    audioqa = str(venv / "bin" / "audioqa")

    where = subprocess.run([str(python), "-c", "import audioqa; print(audioqa.__file__)"], cwd=elsewhere, env=env,
                           check=True, capture_output=True, text=True).stdout
    assert where.startswith(str(site))

    result = subprocess.run([audioqa, "analyze", str(sample_path("en_support_stereo_8k")), "--out", "out",
                             "--language", "en", "--no-html"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads((elsewhere / "out" / "en_support_stereo_8k.json").read_text(encoding="utf-8"))
    assert len(report["rules"]) == 28 and report["score"]["passed"]  # the shipped English pack was found

    bad = elsewhere / "bad.yaml"
    bad.write_text("asr: {language: klingon}\n")
    result = subprocess.run([audioqa, "analyze", "x.wav", "--config", str(bad)], cwd=elsewhere, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 2 and "asr.language" in result.stderr
