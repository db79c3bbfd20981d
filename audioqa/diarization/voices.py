"""Which voice said each phrase: the diarisation checked phrase by phrase after recognition.

pyannote decides who speaks inside 10 s windows. Where two voices alternate quickly inside one window
(a call's closing: "anything else I can do for you?", "no, that's all", "have a good one"), its
segmentation can hear a single speaker there, and both parties' words go to that speaker. Each
recognised phrase long enough to carry a voice is embedded on its own and goes to the speaker whose
voice it is closest to: the mean of that speaker's phrase embeddings, weighted by their duration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..records import Word

SENTENCE_ENDS = tuple(".?!。？！")


def phrases(words: Sequence[Word], *, max_pause_ms: int) -> list[list[Word]]:
    """Each speaker's words in runs, split at pauses longer than ``max_pause_ms`` and after a sentence ends."""
    runs: list[list[Word]] = []
    for speaker in dict.fromkeys(w.speaker for w in words):
        current: list[Word] = []
        for w in sorted((w for w in words if w.speaker == speaker), key=lambda w: w.begin_ms):
            if current and (w.begin_ms - current[-1].end_ms > max_pause_ms or current[-1].text.endswith(SENTENCE_ENDS)):
                runs.append(current)
                current = []
            current.append(w)
        if current:
            runs.append(current)
    return runs


def follow_voices(words: Sequence[Word], samples: np.ndarray, embed: Callable[[np.ndarray], np.ndarray | None], *,
                  min_phrase_ms: int, max_pause_ms: int = 300, sr: int = 16000) -> list[Word]:
    """Give each phrase of a one-channel call to the speaker whose voice it sounds like.

    Args:
        words: recognised words labelled with diarised speakers.
        samples: the call, float32, shape (n,).
        embed: a clip → its speaker embedding (None when it has no usable speech).
        min_phrase_ms: shorter phrases are too short to carry a voice and keep their speaker.
        max_pause_ms: a longer pause ends a phrase.
        sr: sample rate in Hz.

    Returns:
        The words, relabelled where a phrase sounds like another speaker, in time order.
    """
    runs = phrases(words, max_pause_ms=max_pause_ms)
    vectors: list[np.ndarray | None] = []
    for run in runs:
        begin_ms, end_ms = run[0].begin_ms, run[-1].end_ms
        vector = embed(samples[begin_ms * sr // 1000:end_ms * sr // 1000]) if end_ms - begin_ms >= min_phrase_ms else None
        ok = vector is not None and np.all(np.isfinite(vector)) and np.linalg.norm(vector) > 0
        vectors.append(vector / np.linalg.norm(vector) if ok else None)
    voices: dict[str, np.ndarray] = {}
    for run, vector in zip(runs, vectors):
        if vector is not None:
            weight = run[-1].end_ms - run[0].begin_ms
            voices[run[0].speaker] = voices.get(run[0].speaker, 0.0) + weight * vector
    if len(voices) < 2:
        return sorted(words, key=lambda w: w.begin_ms)
    names = list(voices)
    centroids = np.stack([voices[s] / np.linalg.norm(voices[s]) for s in names])
    out = []
    for run, vector in zip(runs, vectors):
        speaker = run[0].speaker if vector is None else names[int(np.argmax(centroids @ vector))]
        out += [Word(w.text, w.begin_ms, w.end_ms, w.prob, speaker) for w in run]
    return sorted(out, key=lambda w: w.begin_ms)
