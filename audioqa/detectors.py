"""Behaviour detectors: customer agitation, the agent freezing or counter-escalating, dry appeasement,
a monotone agent, and the kind of customer (DOMAIN.md §1-2).

Pure functions over turns, conversation metrics and per-turn prosody. Acoustic evidence is always
relative to the speaker's own baseline (so it does not depend on recording gain); lexical evidence
comes from the cue lists in the configuration. Every threshold lives in ``configs/default.yaml``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from .config import DetectorOptions
from .prosody import SegmentProsody, SpeakerProsody
from .records import AGENT, CUSTOMER, Conversation, Event, Turn, Word
from .text import IndexedText, find_normalised
from .turns import join_words, normalise_text


def cue_hits(text: str, phrases: Sequence[str]) -> list[str]:
    """The phrases of a cue list found in ``text``, matched as the rule engine's normalised mode does
    (case, width, punctuation and script ignored; Latin words whole: "sue" is not in "issue")."""
    index = IndexedText.from_words([Word(text, 0, 0, 1.0)])
    return [p for p in phrases if find_normalised(index, p)]


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def acoustic_arousal(p: SegmentProsody, options: DetectorOptions) -> tuple[float, dict[str, float]]:
    """Arousal of one phrase (or turn): the weighted sum of its z-scores against the speaker's baseline.

    Vocal effort (a brighter, flatter spectrum, a less periodic voice) carries most weight; loudness and
    rate add to it; pitch level does not, since happy excitement raises it as much as anger does.
    A phrase with too little speech carries no acoustic evidence (a syllable is not a sustained rise).

    Returns:
        (arousal, the per-feature contributions as evidence).
    """
    if p.speech_ms < options.min_speech_ms:
        return 0.0, {}
    contributions = {k: options.arousal_weights[k] * z for k, z in p.z.items() if options.arousal_weights[k]}
    return sum(contributions.values()), {k: round(v, 2) for k, v in contributions.items()}


def agitation_score(units: float, options: DetectorOptions) -> float:
    """Units of arousal → 0-1 (0.5 at ``arousal_center``)."""
    return round(_sigmoid(units - options.arousal_center), 3)


def _phrases_by_turn(prosody: Sequence[SpeakerProsody]) -> dict[int, list[SegmentProsody]]:
    out: dict[int, list[SegmentProsody]] = {}
    for sp in prosody:
        for p in sp.phrases:
            out.setdefault(p.turn, []).append(p)
    return out


def detect_customer_agitation(turns: Sequence[Turn], conversation: Conversation,
                              prosody: Sequence[SpeakerProsody], options: DetectorOptions
                              ) -> tuple[list[Event], dict[str, Any], dict[int, float]]:
    """Agitation events, the call-level agitation, and each customer turn's score.

    Each customer phrase is scored from its acoustic arousal, plus units for lexical cues in its turn
    (abuse, escalation threats, repeated complaints) and for the turn interrupting the agent. Runs of
    agitated phrases closer than ``merge_gap_ms`` form one event.
    """
    phrases = _phrases_by_turn(prosody)
    interrupts = {(i.interrupter, i.begin_ms) for i in conversation.interruptions if i.interrupter_role == CUSTOMER}
    scored: list[tuple[SegmentProsody, float, dict]] = []
    turn_scores: dict[int, float] = {}
    for i, t in enumerate(turns):
        if t.role != CUSTOMER:
            continue
        interrupting = (t.speaker, t.begin_ms) in interrupts
        for p in phrases.get(i, []):
            text = join_words(w for w in t.words if p.begin_ms <= w.begin_ms < p.end_ms)
            lexical = {kind: cue_hits(text, options.lexicon[kind]) for kind in ("abuse", "threat", "complaint")}
            lexical = {k: v for k, v in lexical.items() if v}
            extra = options.lexical_units * len(lexical) + (options.interrupt_units if interrupting else 0.0)
            units, acoustic = acoustic_arousal(p, options)
            score = agitation_score(units + extra, options) if (acoustic or lexical) else 0.0
            scored.append((p, score, {"acoustic": acoustic, "lexical": lexical, "interrupted_agent": interrupting}))
            turn_scores[i] = max(turn_scores.get(i, 0.0), score)

    events: list[Event] = []
    run: list[tuple[SegmentProsody, float, dict]] = []
    for item in scored + [None]:  # a sentinel closes the last run
        agitated = item is not None and item[1] >= options.agitation_threshold
        if agitated and (not run or item[0].begin_ms - run[-1][0].end_ms <= options.merge_gap_ms):
            run.append(item)
            continue
        if run:
            events.append(_agitation_event(run, turns))
        run = [item] if agitated else []

    weights = [max(1, p.speech_ms) for p, _, _ in scored]
    peak = max(scored, key=lambda x: x[1], default=None)
    call = {
        "score": round(sum(w * s for w, (_, s, _) in zip(weights, scored)) / sum(weights), 3) if scored else 0.0,
        "peak": None if peak is None else {"score": peak[1], "turn": peak[0].turn, "begin_ms": peak[0].begin_ms,
                                           "end_ms": peak[0].end_ms},
    }
    return events, call, turn_scores


def _agitation_event(run: list[tuple[SegmentProsody, float, dict]], turns: Sequence[Turn]) -> Event:
    top = max(run, key=lambda x: x[1])
    speaker = turns[run[0][0].turn].speaker
    return Event("customer_agitation", speaker, CUSTOMER, run[0][0].begin_ms, max(p.end_ms for p, _, _ in run),
                 top[1], {"turns": sorted({p.turn for p, _, _ in run}), **top[2]})


def detect_agent_freeze(turns: Sequence[Turn], conversation: Conversation, agitation: dict[int, float],
                        options: DetectorOptions) -> list[Event]:
    """Dead air after a customer turn, no backchannel through a long customer turn, being cut off repeatedly."""
    agent = next((t.speaker for t in turns if t.role == AGENT), "")
    events = []
    for item in conversation.response_latency_ms["items"]:
        agitated = agitation.get(item["after_turn"], 0.0) >= options.agitation_threshold
        limit = options.freeze_after_agitation_ms if agitated else options.freeze_dead_air_ms
        if item["latency_ms"] >= limit:
            events.append(Event("agent_freeze", agent, AGENT, item["customer_end_ms"], item["agent_begin_ms"],
                                round(min(1.0, 0.5 * item["latency_ms"] / limit), 3),
                                {"kind": "dead_air", "latency_ms": item["latency_ms"], "threshold_ms": limit,
                                 "after_agitated_turn": agitated}))
    agent_tokens = [b for b in conversation.backchannels if b.role == AGENT]
    for t in turns:
        if t.role == CUSTOMER and t.end_ms - t.begin_ms >= options.freeze_long_turn_ms and not any(
                t.begin_ms <= b.begin_ms < t.end_ms for b in agent_tokens):
            events.append(Event("agent_freeze", agent, AGENT, t.begin_ms, t.end_ms, 0.5,
                                {"kind": "no_backchannel", "customer_turn_ms": t.end_ms - t.begin_ms}))
    cut = sorted((i for i in conversation.interruptions if i.interrupter_role == CUSTOMER and i.interrupted == agent),
                 key=lambda i: i.begin_ms)
    for j in range(len(cut) - options.freeze_cut_off_count + 1):
        window = cut[j:j + options.freeze_cut_off_count]
        if window[-1].begin_ms - window[0].begin_ms <= options.freeze_cut_off_window_ms:
            events.append(Event("agent_freeze", agent, AGENT, window[0].begin_ms, window[-1].end_ms, 0.6,
                                {"kind": "cut_off", "times": len(window)}))
            break
    return events


def detect_counter_escalation(turns: Sequence[Turn], conversation: Conversation,
                              prosody: Sequence[SpeakerProsody], agitation_events: Sequence[Event],
                              options: DetectorOptions) -> list[Event]:
    """The agent rising above their own baseline, interrupting, or arguing back while the customer is agitated."""
    phrases = _phrases_by_turn(prosody)
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
        events.append(Event("agent_counter_escalation", t.speaker, AGENT, t.begin_ms, t.end_ms, round(score, 3),
                            {"acoustic": acoustic, "loudness_z": round(louder_z, 2), "raised_voice": raised,
                             "interrupted_customer": len(interrupting),
                             "phrases": phrases_said}))
    return events


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
            events.append(Event("dry_appeasement", t.speaker, AGENT, t.begin_ms, t.end_ms,
                                round(agitation[later[0]], 3),
                                {"phrases": phrases, "rate_rel": p.rate_rel, "f0_range_st": p.f0_range_st,
                                 "baseline_f0_range_st": base_range, "next_customer_turn": later[0]}))
    return events


def detect_monotone_agent(turns: Sequence[Turn], prosody: Sequence[SpeakerProsody],
                          options: DetectorOptions) -> list[Event]:
    """The agent's pitch range over the whole call far below a normal speaking range."""
    events = []
    for sp in prosody:
        voiced_ms = sum(t.speech_ms for t in sp.turns)
        if sp.role != AGENT or sp.f0_range_call_st is None or voiced_ms < options.monotone_min_speech_ms:
            continue
        if sp.f0_range_call_st < options.monotone_range_st:
            own = [t for t in turns if t.speaker == sp.speaker]
            events.append(Event("monotone_agent", sp.speaker, AGENT, own[0].begin_ms, own[-1].end_ms,
                                round(1 - sp.f0_range_call_st / options.monotone_range_st, 3),
                                {"f0_range_st": sp.f0_range_call_st, "threshold_st": options.monotone_range_st}))
    return events


def _repetition(texts: Sequence[str]) -> float:
    """Share of a speaker's character 4-grams that already occurred in one of their earlier turns."""
    seen: set[str] = set()
    repeated = total = 0
    for text in texts:
        norm = normalise_text(text)
        grams = {norm[i:i + 4] for i in range(len(norm) - 3)}
        repeated += len(grams & seen)
        total += len(grams)
        seen |= grams
    return repeated / total if total else 0.0


def classify_customer(turns: Sequence[Turn], conversation: Conversation, agitation_events: Sequence[Event],
                      agitation_call: dict[str, Any], options: DetectorOptions) -> dict[str, Any]:
    """The kind of customer (DOMAIN.md §1), from behaviour and words only: never from sex, age or any
    other protected trait.

    Returns:
        {"kind": irritable | repetitive | rational_demanding | leveraging | silent | talkative | "none",
        "confidence": 0-1, "evidence": {...}, "candidates": {kind: confidence}}.
    """
    own = [t for t in turns if t.role == CUSTOMER]
    text = " ".join(t.text for t in own)
    talk = conversation.talk_time_ms
    share = talk.get(CUSTOMER, 0) / max(1, talk.get(CUSTOMER, 0) + talk.get(AGENT, 0))
    mean_turn_ms = sum(t.end_ms - t.begin_ms for t in own) / len(own) if own else 0.0
    questions = len(re.findall(r"[?？]|吗|为什么|怎么|\bwhy\b|\bhow\b|\bwhat\b", text.lower()))
    abuse = cue_hits(text, options.lexicon["abuse"])
    interruptions = sum(1 for i in conversation.interruptions if i.interrupter_role == CUSTOMER)
    peak = (agitation_call.get("peak") or {}).get("score", 0.0)
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
    return {"kind": kind if confidence > 0 else "none", "confidence": round(confidence, 3), "evidence": evidence,
            "candidates": {c: round(v, 3) for c, v in candidates.items() if v > 0}}


def detect_events(turns: Sequence[Turn], conversation: Conversation, prosody: Sequence[SpeakerProsody],
                  options: DetectorOptions) -> tuple[list[Event], dict[str, Any], dict[str, Any]]:
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
