"""Which voice said each phrase: the diarisation checked phrase by phrase after recognition.

pyannote decides who speaks inside 10 s windows. Where two voices alternate quickly inside one window
(a call's closing: "anything else I can do for you?", "no, that's all", "have a good one"), its
segmentation can hear a single speaker there, and both parties' words go to that speaker. Each
recognised phrase (a speaker's words up to a pause) long enough to carry a voice is embedded on its own
and goes to the speaker whose voice it is closest to: the mean of that speaker's phrase embeddings,
weighted by their duration. The voices are then recomputed and the phrases placed again until none
moves (k-means, started from the diarisation's answer): where two voices of the same sex were clustered
together, the first round only starts to pull them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..records import SpeakerSegment, Word

_MAX_ROUNDS = 10


def phrases(words: Sequence[Word], *, max_pause_ms: int) -> list[list[Word]]:
    """Each speaker's words in runs, split at pauses longer than ``max_pause_ms``.

    Not at sentence ends: Whisper's full stop is no sign of another voice, and the sub-second pieces it
    would cut ("Is that what happened?") are too short for an embedding to place reliably.
    """
    runs: list[list[Word]] = []
    for speaker in dict.fromkeys(w.speaker for w in words):
        current: list[Word] = []
        for w in sorted((w for w in words if w.speaker == speaker), key=lambda w: w.begin_ms):
            if current and w.begin_ms - current[-1].end_ms > max_pause_ms:
                runs.append(current)
                current = []
            current.append(w)
        if current:
            runs.append(current)
    return runs


def overlaps(speech: Sequence[SpeakerSegment]) -> list[tuple[int, int]]:
    """(begin, end) ms where two speakers' speech overlaps, from a diarisation that keeps overlaps."""
    return [(max(a.begin_ms, b.begin_ms), min(a.end_ms, b.end_ms)) for i, a in enumerate(speech)
            for b in speech[i + 1:] if a.speaker != b.speaker and min(a.end_ms, b.end_ms) > max(a.begin_ms, b.begin_ms)]


def follow_voices(words: Sequence[Word], samples: np.ndarray, embed: Callable[[np.ndarray], np.ndarray | None], *,
                  min_phrase_ms: int, overlapped: Sequence[tuple[int, int]] = (), max_pause_ms: int = 300,
                  sr: int = 16000) -> list[Word]:
    """Give each phrase of a one-channel call to the speaker whose voice it sounds like.

    Args:
        words: recognised words labelled with diarised speakers.
        samples: the call, float32, shape (n,).
        embed: a clip → its speaker embedding (None when it has no usable speech).
        min_phrase_ms: shorter phrases are too short to carry a voice and keep their speaker.
        overlapped: (begin, end) ms where two voices are heard at once: a phrase touching them keeps its
            speaker, since its audio holds the other voice too.
        max_pause_ms: a longer pause ends a phrase.
        sr: sample rate in Hz.

    Returns:
        The words, relabelled where a phrase sounds like another speaker, in time order.
    """
    runs = phrases(words, max_pause_ms=max_pause_ms)
    vectors: list[np.ndarray | None] = []
    for run in runs:
        begin_ms, end_ms = run[0].begin_ms, run[-1].end_ms
        alone = not any(min(e, end_ms) > max(b, begin_ms) for b, e in overlapped)
        long_enough = end_ms - begin_ms >= min_phrase_ms
        vector = embed(samples[begin_ms * sr // 1000:end_ms * sr // 1000]) if alone and long_enough else None
        ok = vector is not None and np.all(np.isfinite(vector)) and np.linalg.norm(vector) > 0
        vectors.append(vector / np.linalg.norm(vector) if ok else None)
    speakers = [run[0].speaker for run in runs]
    for _ in range(_MAX_ROUNDS):  # k-means over the phrases, started from the diarisation's answer
        voices: dict[str, np.ndarray] = {}
        for run, vector, speaker in zip(runs, vectors, speakers):
            if vector is not None:
                voices[speaker] = voices.get(speaker, 0.0) + (run[-1].end_ms - run[0].begin_ms) * vector
        if len(voices) < 2:
            break
        names = list(voices)
        centroids = np.stack([voices[s] / np.linalg.norm(voices[s]) for s in names])
        moved = [s if v is None else names[int(np.argmax(centroids @ v))] for s, v in zip(speakers, vectors)]
        if moved == speakers:
            break
        speakers = moved
    out = [Word(w.text, w.begin_ms, w.end_ms, w.prob, speaker) for run, speaker in zip(runs, speakers) for w in run]
    return sorted(out, key=lambda w: w.begin_ms)
