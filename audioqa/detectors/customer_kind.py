"""The kind of customer (DOMAIN.md §1), from behaviour and words only: never from sex, age or any other
protected trait."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..config import DetectorOptions
from ..records import AGENT, CUSTOMER, Agitation, Conversation, CustomerKind, Event, Turn
from ..text import compact
from .cues import cue_hits


def _repetition(texts: Sequence[str]) -> float:
    """Share of a speaker's character 4-grams that already occurred in one of their earlier turns."""
    seen: set[str] = set()
    repeated = total = 0
    for text in texts:
        norm = compact(text)
        grams = {norm[i:i + 4] for i in range(len(norm) - 3)}
        repeated += len(grams & seen)
        total += len(grams)
        seen |= grams
    return repeated / total if total else 0.0


def classify_customer(turns: Sequence[Turn], conversation: Conversation, agitation_events: Sequence[Event],
                      agitation_call: Agitation, options: DetectorOptions) -> CustomerKind:
    """Irritable, repetitive, rational-demanding, leveraging, silent, talkative, or none, with a confidence
    (0-1), the evidence behind it and every candidate kind's confidence."""
    own = [t for t in turns if t.role == CUSTOMER]
    text = " ".join(t.text for t in own)
    talk = conversation.talk_time_ms
    share = talk.get(CUSTOMER, 0) / max(1, talk.get(CUSTOMER, 0) + talk.get(AGENT, 0))
    mean_turn_ms = sum(t.end_ms - t.begin_ms for t in own) / len(own) if own else 0.0
    questions = len(re.findall(r"[?？]|吗|为什么|怎么|\bwhy\b|\bhow\b|\bwhat\b", text.lower()))
    abuse = cue_hits(text, options.lexicon["abuse"])
    interruptions = sum(1 for i in conversation.interruptions if i.interrupter_role == CUSTOMER)
    peak = agitation_call.peak.score if agitation_call.peak else 0.0
    evidence = {
        "customer_talk_share": round(share, 3), "mean_customer_turn_ms": int(mean_turn_ms),
        "repetition": round(_repetition([t.text for t in own]), 3), "questions": questions,
        "demands": cue_hits(text, options.lexicon["demand"]),
        "compensation": cue_hits(text, options.lexicon["compensation"]),
        "immediacy": cue_hits(text, options.lexicon["immediacy"]),
        "abuse": abuse, "customer_interruptions": interruptions, "agitation_peak": peak,
        "agitation_events": len(agitation_events),
    }
    k = options.kind
    candidates = {
        "irritable": peak if agitation_events and (abuse or interruptions or peak >= k["irritable_peak"]) else 0.0,
        "repetitive": min(1.0, evidence["repetition"] / k["repetition"]) * 0.8
        if evidence["repetition"] >= k["repetition"] and share >= k["repetitive_share"] else 0.0,
        "rational_demanding": 0.7 if evidence["demands"] and questions >= k["questions"] and not abuse else 0.0,
        "leveraging": 0.8 if evidence["compensation"] and evidence["immediacy"] else
        0.5 if evidence["compensation"] else 0.0,
        "silent": 0.7 if own and share <= k["silent_share"] else 0.0,
        "talkative": 0.6 if share >= k["talkative_share"] and mean_turn_ms >= k["talkative_turn_ms"] else 0.0,
    }
    kind = max(candidates, key=lambda c: candidates[c])
    confidence = candidates[kind]
    return CustomerKind(kind if confidence > 0 else "none", round(confidence, 3), evidence,
                        {c: round(v, 3) for c, v in candidates.items() if v > 0})
