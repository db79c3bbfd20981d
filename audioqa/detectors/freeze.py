"""The agent freezing under pressure: dead air, no acknowledgement through a long turn, being cut off repeatedly."""

from __future__ import annotations

from collections.abc import Sequence

from ..config import DetectorOptions
from ..records import AGENT, AGENT_FREEZE, CUSTOMER, Conversation, Event, Turn


def detect_agent_freeze(turns: Sequence[Turn], conversation: Conversation, agitation: dict[int, float],
                        options: DetectorOptions) -> list[Event]:
    """Dead air after a customer turn, no backchannel through a long customer turn, being cut off repeatedly.

    Args:
        agitation: each customer turn's agitation score (0-1), by turn index: the agent has less time to
            answer an agitated turn (``freeze_after_agitation_ms``) than a calm one (``freeze_dead_air_ms``).
    """
    agent = next((t.speaker for t in turns if t.role == AGENT), "")
    events = []
    for item in conversation.response_latency_ms.items:
        agitated = agitation.get(item.after_turn, 0.0) >= options.agitation_threshold
        limit = options.freeze_after_agitation_ms if agitated else options.freeze_dead_air_ms
        if item.latency_ms >= limit:
            events.append(Event(AGENT_FREEZE, agent, AGENT, item.customer_end_ms, item.agent_begin_ms,
                                round(min(1.0, 0.5 * item.latency_ms / limit), 3),
                                {"kind": "dead_air", "latency_ms": item.latency_ms, "threshold_ms": limit,
                                 "after_agitated_turn": agitated}))
    agent_tokens = [b for b in conversation.backchannels if b.role == AGENT]
    for t in turns:
        if t.role == CUSTOMER and t.end_ms - t.begin_ms >= options.freeze_long_turn_ms and not any(
                t.begin_ms <= b.begin_ms < t.end_ms for b in agent_tokens):
            events.append(Event(AGENT_FREEZE, agent, AGENT, t.begin_ms, t.end_ms, 0.5,
                                {"kind": "no_backchannel", "customer_turn_ms": t.end_ms - t.begin_ms}))
    cut = sorted((i for i in conversation.interruptions if i.interrupter_role == CUSTOMER and i.interrupted == agent),
                 key=lambda i: i.begin_ms)
    for j in range(len(cut) - options.freeze_cut_off_count + 1):
        window = cut[j:j + options.freeze_cut_off_count]
        if window[-1].begin_ms - window[0].begin_ms <= options.freeze_cut_off_window_ms:
            events.append(Event(AGENT_FREEZE, agent, AGENT, window[0].begin_ms, window[-1].end_ms, 0.6,
                                {"kind": "cut_off", "times": len(window)}))
            break
    return events
