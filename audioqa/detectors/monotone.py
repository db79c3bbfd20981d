"""A monotone agent: a pitch range over the whole call far below a normal speaking range."""

from __future__ import annotations

from collections.abc import Sequence

from ..config import DetectorOptions
from ..records import AGENT, MONOTONE_AGENT, Event, SpeakerProsody, Turn


def detect_monotone_agent(turns: Sequence[Turn], prosody: Sequence[SpeakerProsody],
                          options: DetectorOptions) -> list[Event]:
    """The agent's pitch range (p90 - p10 over the call, in semitones) below ``monotone_range_st``."""
    events = []
    for sp in prosody:
        voiced_ms = sum(t.speech_ms for t in sp.turns)
        if sp.role != AGENT or sp.f0_range_call_st is None or voiced_ms < options.monotone_min_speech_ms:
            continue
        if sp.f0_range_call_st < options.monotone_range_st:
            own = [t for t in turns if t.speaker == sp.speaker]
            events.append(Event(MONOTONE_AGENT, sp.speaker, AGENT, own[0].begin_ms, own[-1].end_ms,
                                round(1 - sp.f0_range_call_st / options.monotone_range_st, 3),
                                {"f0_range_st": sp.f0_range_call_st, "threshold_st": options.monotone_range_st}))
    return events
