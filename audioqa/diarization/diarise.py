"""Speaker diarisation of one-channel calls with pyannote.audio, audio handed over in memory."""

from __future__ import annotations

import numpy as np

from ..audio import SAMPLE_RATE_HZ
from ..config import DiarizationOptions
from ..records import SpeakerSegment


def diarise(pipeline, samples: np.ndarray,
            options: DiarizationOptions) -> tuple[list[SpeakerSegment], list[SpeakerSegment]]:
    """Who spoke when, in ms.

    Args:
        pipeline: a loaded ``pyannote.audio.pipelines.SpeakerDiarization``.
        samples: float32, shape (n,), 16 kHz mono.
        options: speaker-count settings; ``num_speakers`` wins over ``min/max_speakers``.

    Returns:
        (exclusive, speech): one speaker at a time, for attributing words; and each speaker's speech
        with overlaps kept, for the RTTM and scoring against a reference. Both sorted by start, with
        speakers renamed ``S0``, ``S1``, … in order of first appearance.
    """
    import torch

    # pyannote decodes files with torchcodec, which does not load beside the CPU torch: pass samples.
    file = {"waveform": torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)[None, :]),
            "sample_rate": SAMPLE_RATE_HZ}
    output = pipeline(file, num_speakers=options.num_speakers, min_speakers=options.min_speakers,
                      max_speakers=options.max_speakers)
    names: dict[str, str] = {}

    def segments(annotation) -> list[SpeakerSegment]:
        out = []
        for segment, _, label in sorted(annotation.itertracks(yield_label=True), key=lambda x: x[0].start):
            names.setdefault(label, f"S{len(names)}")
            out.append(SpeakerSegment(names[label], round(segment.start * 1000), round(segment.end * 1000)))
        return out

    speech = segments(output.speaker_diarization)
    return segments(output.exclusive_speaker_diarization), speech


def embed_voice(pipeline, samples: np.ndarray) -> np.ndarray | None:
    """The speaker embedding of a clip (float32, shape (n,), 16 kHz) by the pipeline's embedding model;
    None when the clip has no usable speech."""
    import torch

    vector = pipeline._embedding(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)[None, None, :]))[0]
    return None if np.isnan(vector).any() else vector


def borrow_embeddings(masks: np.ndarray, embeddings: np.ndarray, embedded: np.ndarray,
                      shift_frames: float) -> list[tuple[int, int]]:
    """Give the local speakers of chunks that were not embedded the embedding of the same voice next door.

    Consecutive chunks overlap (a 10 s window every 2.5 s): a voice active in a chunk that was skipped is
    active in the nearest embedded chunk before or after it over their common span. Each local speaker
    takes the embedding of the neighbour's speaker with whom it shares the most active frames.

    Args:
        masks: binarised local-speaker activity, shape (chunks, frames, speakers).
        embeddings: shape (chunks, speakers, dimension), filled in place for chunks not ``embedded``.
        embedded: bool, shape (chunks,): which chunks have their own embeddings.
        shift_frames: frames between the starts of consecutive chunks.

    Returns:
        (chunk, speaker) pairs that are active but share no frame with an embedded neighbour: embed them.
    """
    _, num_frames, num_speakers = masks.shape
    have = np.flatnonzero(embedded)
    unmatched = []
    for chunk in np.flatnonzero(~embedded):
        after = np.searchsorted(have, chunk)
        neighbours = [have[i] for i in (after - 1, after) if 0 <= i < len(have)]
        for speaker in range(num_speakers):
            if not masks[chunk, :, speaker].any():
                continue
            best, best_frames = None, 0.0
            for other in neighbours:
                shift = int(round(abs(other - chunk) * shift_frames))
                if shift >= num_frames:
                    continue
                here, there = (slice(shift, None), slice(0, num_frames - shift)) if other > chunk else \
                              (slice(0, num_frames - shift), slice(shift, None))
                shared = masks[chunk, here, speaker] @ masks[other, there, :]  # shape: (speakers,)
                shared[np.isnan(embeddings[other, :, 0])] = 0
                if shared.max() > best_frames:
                    best, best_frames = (other, int(shared.argmax())), shared.max()
            if best is None:
                unmatched.append((int(chunk), speaker))
            else:
                embeddings[chunk, speaker] = embeddings[best]
    return unmatched
