"""Customer agitation: acoustic arousal against the customer's own baseline, plus lexical cues and interruptions."""

from __future__ import annotations

from collections.abc import Sequence

from ..config import DetectorOptions
from ..records import (CUSTOMER, CUSTOMER_AGITATION, Agitation, AgitationPeak, Conversation, Event, SegmentProsody,
                       SpeakerProsody, Turn)
from ..text import join_words
from .cues import acoustic_arousal, agitation_score, cue_hits, phrases_by_turn


def detect_customer_agitation(turns: Sequence[Turn], conversation: Conversation,
                              prosody: Sequence[SpeakerProsody], options: DetectorOptions
                              ) -> tuple[list[Event], Agitation, dict[int, float]]:
    """Agitation events, the call-level agitation, and each customer turn's score.

    Each customer phrase is scored from its acoustic arousal, plus units for lexical cues in its turn
    (abuse, escalation threats, repeated complaints) and for the turn interrupting the agent. Runs of
    agitated phrases closer than ``merge_gap_ms`` form one event.
    """
    phrases = phrases_by_turn(prosody)
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
            evidence = {"acoustic": acoustic, "lexical": lexical, "interrupted_agent": interrupting}
            if not p.transcribed:  # speech the recogniser gave no words: shouting, crying, a sentence said again
                evidence["untranscribed_speech"] = True
            scored.append((p, score, evidence))
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
    call = Agitation(
        score=round(sum(w * s for w, (_, s, _) in zip(weights, scored)) / sum(weights), 3) if scored else 0.0,
        peak=None if peak is None else AgitationPeak(peak[1], peak[0].turn, peak[0].begin_ms, peak[0].end_ms),
    )
    return events, call, turn_scores


def _agitation_event(run: list[tuple[SegmentProsody, float, dict]], turns: Sequence[Turn]) -> Event:
    top = max(run, key=lambda x: x[1])
    speaker = turns[run[0][0].turn].speaker
    return Event(CUSTOMER_AGITATION, speaker, CUSTOMER, run[0][0].begin_ms, max(p.end_ms for p, _, _ in run),
                 top[1], {"turns": sorted({p.turn for p, _, _ in run}), **top[2]})
