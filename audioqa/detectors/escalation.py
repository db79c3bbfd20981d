"""The agent counter-escalating: a raised voice, interrupting or arguing back while the customer is agitated."""

from __future__ import annotations

from collections.abc import Sequence

from ..config import DetectorOptions
from ..records import AGENT, AGENT_COUNTER_ESCALATION, Conversation, Event, SpeakerProsody, Turn
from .cues import acoustic_arousal, agitation_score, cue_hits, phrases_by_turn


def detect_counter_escalation(turns: Sequence[Turn], conversation: Conversation,
                              prosody: Sequence[SpeakerProsody], agitation_events: Sequence[Event],
                              options: DetectorOptions) -> list[Event]:
    """The agent rising above their own baseline, interrupting, or arguing back while the customer is agitated."""
    phrases = phrases_by_turn(prosody)
    windows = [(e.begin_ms, e.end_ms + options.escalation_window_ms) for e in agitation_events]
    agent_interruptions = [i for i in conversation.interruptions if i.interrupter_role == AGENT]
    events = []
    for i, t in enumerate(turns):
        if t.role != AGENT or not any(t.begin_ms < w_end and t.end_ms > w_begin for w_begin, w_end in windows):
            continue
        loudest, acoustic, louder_z = max(((*acoustic_arousal(p, options), p.z.get("loudness_db", 0.0))
                                           for p in phrases.get(i, [])), key=lambda x: x[0], default=(0.0, {}, 0.0))
        # a raised voice is louder, not only tenser: voice quality alone also moves on a calm, careful turn
        raised = (bool(acoustic) and agitation_score(loudest, options) >= options.escalation_threshold
                  and louder_z >= options.escalation_min_loudness_z)
        interrupting = [x for x in agent_interruptions if t.begin_ms <= x.begin_ms < t.end_ms]
        phrases_said = cue_hits(t.text, options.lexicon["counter"])
        if not (raised or interrupting or phrases_said):
            continue
        score = max(agitation_score(loudest, options) if raised else 0.0, 0.6 if interrupting else 0.0,
                    0.5 if phrases_said else 0.0)
        if raised and (interrupting or phrases_said):
            score = max(score, 0.8)
        events.append(Event(AGENT_COUNTER_ESCALATION, t.speaker, AGENT, t.begin_ms, t.end_ms, round(score, 3),
                            {"acoustic": acoustic, "loudness_z": round(louder_z, 2), "raised_voice": raised,
                             "interrupted_customer": len(interrupting),
                             "phrases": phrases_said}))
    return events
