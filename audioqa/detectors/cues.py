"""What every detector reads: cue phrases in words, and a phrase's acoustic arousal against the speaker's baseline."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from ..config import DetectorOptions
from ..records import SegmentProsody, SpeakerProsody, Word
from ..text import IndexedText, find_normalised


def cue_hits(text: str, phrases: Sequence[str]) -> list[str]:
    """The phrases of a cue list found in ``text``, matched as the rule engine's normalised mode does
    (case, width, punctuation and script ignored; Latin words whole: "sue" is not in "issue")."""
    index = _indexed(text)
    return [p for p in phrases if find_normalised(index, p)]


@functools.lru_cache(maxsize=4096)  # a turn's text is searched for every kind of cue (and again by calibrate)
def _indexed(text: str) -> IndexedText:
    return IndexedText.from_words([Word(text, 0, 0, 1.0)])


def acoustic_arousal(p: SegmentProsody, options: DetectorOptions) -> tuple[float, dict[str, float]]:
    """Arousal of one phrase (or turn): the weighted sum of its z-scores against the speaker's baseline.

    Vocal effort (a brighter, flatter spectrum) carries most weight and loudness adds to it: they rise
    with anger on every dev corpus of raised-voice anger. Pitch level does not count, since happy
    excitement raises it as much as anger does; nor does periodicity, whose direction flips between corpora.
    A phrase with too little speech carries no acoustic evidence (a syllable is not a sustained rise).

    Returns:
        (arousal, the per-feature contributions as evidence).
    """
    if p.speech_ms < options.min_speech_ms:
        return 0.0, {}
    contributions = {k: options.arousal_weights[k] * z for k, z in p.z.items() if options.arousal_weights[k]}
    return sum(contributions.values()), {k: round(v, 2) for k, v in contributions.items()}


def agitation_score(units: float, options: DetectorOptions) -> float:
    """Units of arousal → 0-1 (0.5 at ``arousal_center``), through a logistic curve."""
    return round(1 / (1 + math.exp(-(units - options.arousal_center))), 3)


def phrases_by_turn(prosody: Sequence[SpeakerProsody]) -> dict[int, list[SegmentProsody]]:
    """Every speaker's phrases, keyed by the index of the turn they belong to."""
    out: dict[int, list[SegmentProsody]] = {}
    for sp in prosody:
        for p in sp.phrases:
            out.setdefault(p.turn, []).append(p)
    return out
