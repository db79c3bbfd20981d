"""How audioqa drives faster-whisper (the recognition itself is exercised on the sample calls)."""

from __future__ import annotations

from types import SimpleNamespace

import faster_whisper
import numpy as np

from audioqa import load_config
from audioqa.asr import transcribe


class Recorder:
    """Stands in for a Whisper model or pipeline; remembers how it was asked to transcribe."""

    def __init__(self, model=None, device: str = "cpu"):
        self.model = model or SimpleNamespace(device=device)
        self.kwargs: dict = {}

    def transcribe(self, samples, **kwargs):
        self.kwargs = kwargs
        return iter(()), SimpleNamespace(language="en")


def test_on_a_gpu_vad_chunks_are_decoded_in_batches(monkeypatch):
    made: list[Recorder] = []
    monkeypatch.setattr(faster_whisper, "BatchedInferencePipeline", lambda model: made.append(Recorder(model)) or made[-1])
    options = load_config().asr
    transcribe(Recorder(device="cuda"), np.zeros(16_000, np.float32), language="en", options=options)
    assert len(made) == 1
    assert made[0].kwargs["batch_size"] == options.gpu_batch_size
    assert made[0].kwargs["vad_filter"] and made[0].kwargs["word_timestamps"]


def test_on_cpu_windows_are_decoded_one_after_another(monkeypatch):
    monkeypatch.setattr(faster_whisper, "BatchedInferencePipeline", lambda model: 1 / 0)
    model = Recorder(device="cpu")
    transcribe(model, np.zeros(16_000, np.float32), language="en", options=load_config().asr)
    assert "batch_size" not in model.kwargs and model.kwargs["condition_on_previous_text"] is False
