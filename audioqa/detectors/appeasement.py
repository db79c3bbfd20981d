"""Dry appeasement: an empathy phrase said fast and flat, after which the customer stays agitated."""

from __future__ import annotations

from collections.abc import Sequence

from ..config import DetectorOptions
from ..records import AGENT, CUSTOMER, DRY_APPEASEMENT, Event, SpeakerProsody, Turn
from .cues import cue_hits


def detect_dry_appeasement(turns: Sequence[Turn], prosody: Sequence[SpeakerProsody], agitation: dict[int, float],
                           options: DetectorOptions) -> list[Event]:
    """An empathy phrase said fast and flat, after which the customer stays agitated."""
    by_turn = {t.turn: t for sp in prosody for t in sp.turns}
    baselines = {sp.speaker: sp.baseline for sp in prosody}
    events = []
    for i, t in enumerate(turns):
        phrases = cue_hits(t.text, options.lexicon["empathy"]) if t.role == AGENT else []
        p = by_turn.get(i)
        if not phrases or p is None or p.rate_rel is None or p.f0_range_st is None:
            continue
        base_range = baselines[t.speaker].f0_range_st
        fast = p.rate_rel >= options.dry_rate_rel_min
        flat = base_range is not None and p.f0_range_st <= options.dry_range_ratio_max * base_range
        later = [j for j in range(i + 1, len(turns)) if turns[j].role == CUSTOMER][:1]
        still_agitated = bool(later) and agitation.get(later[0], 0.0) >= options.agitation_threshold
        if fast and flat and still_agitated:
            events.append(Event(DRY_APPEASEMENT, t.speaker, AGENT, t.begin_ms, t.end_ms,
                                round(agitation[later[0]], 3),
                                {"phrases": phrases, "rate_rel": p.rate_rel, "f0_range_st": p.f0_range_st,
                                 "baseline_f0_range_st": base_range, "next_customer_turn": later[0]}))
    return events
