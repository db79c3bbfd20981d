"""Behaviour detectors: customer agitation, the agent freezing or counter-escalating, dry appeasement,
a monotone agent, and the kind of customer (DOMAIN.md §1-2). One module per behaviour.

Pure functions over turns, conversation metrics and per-turn prosody. Acoustic evidence is always
relative to the speaker's own baseline (so it does not depend on recording gain); lexical evidence
comes from the cue lists in the configuration. Every threshold lives in the ``detectors`` section of
the configuration.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import DetectorOptions
from ..records import Agitation, Conversation, CustomerKind, Event, SpeakerProsody, Turn
from .agitation import detect_customer_agitation
from .appeasement import detect_dry_appeasement
from .cues import acoustic_arousal, agitation_score, cue_hits
from .customer_kind import classify_customer
from .escalation import detect_counter_escalation
from .freeze import detect_agent_freeze
from .monotone import detect_monotone_agent

__all__ = ["acoustic_arousal", "agitation_score", "classify_customer", "cue_hits", "detect_agent_freeze",
           "detect_counter_escalation", "detect_customer_agitation", "detect_dry_appeasement", "detect_events",
           "detect_monotone_agent"]


def detect_events(turns: Sequence[Turn], conversation: Conversation, prosody: Sequence[SpeakerProsody],
                  options: DetectorOptions) -> tuple[list[Event], Agitation, CustomerKind]:
    """Run every detector. Returns (events sorted by start, call-level agitation, customer kind)."""
    agitation_events, agitation_call, agitation = detect_customer_agitation(turns, conversation, prosody, options)
    events = [
        *agitation_events,
        *detect_agent_freeze(turns, conversation, agitation, options),
        *detect_counter_escalation(turns, conversation, prosody, agitation_events, options),
        *detect_dry_appeasement(turns, prosody, agitation, options),
        *detect_monotone_agent(turns, prosody, options),
    ]
    kind = classify_customer(turns, conversation, agitation_events, agitation_call, options)
    return sorted(events, key=lambda e: (e.begin_ms, e.type)), agitation_call, kind
