"""Shared fixtures. Real models are loaded once per session; sample calls are analysed once."""

from __future__ import annotations

import json
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
