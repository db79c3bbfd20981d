"""Speaker diarisation of one-channel calls with pyannote.audio, audio handed over in memory."""

from __future__ import annotations

import numpy as np

from .audio import SAMPLE_RATE_HZ
from .config import DiarizationOptions
from .records import SpeakerSegment


def diarise(pipeline, samples: np.ndarray, options: DiarizationOptions, *,
            exclusive: bool = True) -> list[SpeakerSegment]:
    """Who spoke when, in ms.

    Args:
        pipeline: a loaded ``pyannote.audio.pipelines.SpeakerDiarization``.
        samples: float32, shape (n,), 16 kHz mono.
        options: speaker-count settings; ``num_speakers`` wins over ``min/max_speakers``.
        exclusive: one speaker at a time (for attributing words); False keeps overlapped speech
            (for scoring against a reference).

    Returns:
        Segments sorted by start; speakers renamed ``S0``, ``S1``, … in order of first appearance.
    """
    import torch

    # pyannote decodes files with torchcodec, which does not load beside the CPU torch: pass samples.
    file = {"waveform": torch.from_numpy(samples[None, :].copy()), "sample_rate": SAMPLE_RATE_HZ}
    output = pipeline(file, num_speakers=options.num_speakers, min_speakers=options.min_speakers,
                      max_speakers=options.max_speakers)
    annotation = output.exclusive_speaker_diarization if exclusive else output.speaker_diarization
    names: dict[str, str] = {}
    segments = []
    for segment, _, label in sorted(annotation.itertracks(yield_label=True), key=lambda x: x[0].start):
        names.setdefault(label, f"S{len(names)}")
        segments.append(SpeakerSegment(names[label], round(segment.start * 1000), round(segment.end * 1000)))
    return segments
