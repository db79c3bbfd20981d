"""Shared fixtures. Real models are loaded once per session; sample calls are analysed once."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_audio"
SAMPLE_CALLS = ("zh_complaint_stereo", "zh_complaint_mono", "en_support_stereo_8k", "en_complaint_mono")


def sample_path(call_id: str) -> Path:
    return next(p for p in SAMPLES.glob(f"{call_id}.*") if p.suffix in (".wav", ".flac", ".mp3"))


def truth(call_id: str) -> dict:
    return json.loads((SAMPLES / f"{call_id}.truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def config():
    from audioqa import load_config

    return load_config()


@pytest.fixture(scope="session")
def models(config):
    from audioqa import load_models

    return load_models(config.models, config.diarization)


@pytest.fixture(scope="session")
def reports(models, config):
    """Every sample call analysed with the default configuration, by call id."""
    from audioqa.pipeline import analyze_file

    return {call_id: analyze_file(sample_path(call_id), models, config) for call_id in SAMPLE_CALLS}


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server (Debian's package; `make test` installs it) on a private socket."""
    bindir = _postgres_bin()
    if bindir is None or os.geteuid() != 0:
        pytest.fail("PostgreSQL is not installed (make test installs Debian's postgresql) or not running as root")
    base = Path(tempfile.mkdtemp(prefix="audioqa-pg-"))
    data, sockets = base / "data", base / "run"
    sockets.mkdir()
    os.chmod(base, 0o755)
    shutil.chown(base, "postgres")
    shutil.chown(sockets, "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_postgres, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    port = "55439"
    subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                    f"-p {port} -k {sockets} -c listen_addresses=''", "start"], check=True, capture_output=True)
    subprocess.run([*as_postgres, str(bindir / "createdb"), "-h", str(sockets), "-p", port, "audioqa"], check=True)
    yield f"postgresql+psycopg://postgres@/audioqa?host={sockets}&port={port}"
    subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                   capture_output=True)
    shutil.rmtree(base, ignore_errors=True)
