"""Conversation metrics with the definitions of AWS Transcribe Call Analytics, in integer ms.

- talk time: per role, the union of that role's turns;
- non-talk: spans where nobody speaks, at least ``non_talk_min_ms`` long (list and total);
- interruption: a speaker starts while the other is mid-turn; attributed to the interrupter, its span
  is the overlap. An overlap shorter than ``backchannel_max_ms`` of at most ``backchannel_max_words``
  words is a backchannel ("嗯", "right"), not an interruption;
- talk speed: words per minute of talk time, and characters per minute for Chinese;
- response latency: from the end of each customer turn to the start of the agent turn that answers it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .config import ConversationOptions
from .records import (AGENT, CUSTOMER, Backchannel, Conversation, Interruption, Latency, NonTalk, ResponseLatency,
                      Silence, Span, Turn)
from .text import CJK


def merge_spans(spans: Sequence[Span]) -> list[Span]:
    """Union of intervals, sorted and non-overlapping."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: s.begin_ms):
        if out and s.begin_ms <= out[-1].end_ms:
            out[-1] = Span(out[-1].begin_ms, max(out[-1].end_ms, s.end_ms))
        else:
            out.append(s)
    return out


def talk_time_ms(turns: Sequence[Turn]) -> dict[str, int]:
    roles = sorted({t.role for t in turns} | {AGENT, CUSTOMER})
    return {r: sum(s.duration_ms for s in merge_spans([Span(t.begin_ms, t.end_ms) for t in turns if t.role == r]))
            for r in roles}


def non_talk_spans(turns: Sequence[Turn], duration_ms: int, *, min_ms: int) -> list[Span]:
    """Silences of at least ``min_ms`` where nobody speaks, over ``[0, duration_ms)``."""
    spans, cursor = [], 0
    for s in merge_spans([Span(t.begin_ms, t.end_ms) for t in turns]) + [Span(duration_ms, duration_ms)]:
        if s.begin_ms - cursor >= min_ms:
            spans.append(Span(cursor, s.begin_ms))
        cursor = max(cursor, s.end_ms)
    return spans


def overlaps(turns: Sequence[Turn], options: ConversationOptions) -> tuple[list[Interruption], list[Backchannel]]:
    """Classify every turn that starts while another speaker is mid-turn."""
    interruptions, backchannels = [], []
    for t in turns:
        ongoing = [o for o in turns if o.speaker != t.speaker and o.begin_ms < t.begin_ms < o.end_ms]
        if not ongoing:
            continue
        other = max(ongoing, key=lambda o: o.end_ms)
        end_ms = min(other.end_ms, t.end_ms)
        if end_ms - t.begin_ms < options.backchannel_max_ms and len(t.words) <= options.backchannel_max_words:
            backchannels.append(Backchannel(t.speaker, t.role, t.begin_ms, t.end_ms, t.text))
        else:
            interruptions.append(Interruption(t.speaker, t.role, other.speaker, t.begin_ms, end_ms,
                                              end_ms - t.begin_ms))
    return interruptions, backchannels


def talk_speed(turns: Sequence[Turn], talk_ms: dict[str, int]) -> dict[str, dict[str, float]]:
    out = {}
    for role, ms in talk_ms.items():
        own = [t for t in turns if t.role == role]
        minutes = ms / 60000
        n_words = sum(len(t.words) for t in own)
        n_chars = sum(len(CJK.findall(t.text)) for t in own)
        speed = {"words_per_minute": round(n_words / minutes, 1) if minutes else 0.0}
        if n_chars:
            speed["chars_per_minute"] = round(n_chars / minutes, 1) if minutes else 0.0
        out[role] = speed
    return out


def response_latencies(turns: Sequence[Turn], backchannels: Sequence[Backchannel]) -> list[Latency]:
    """For each customer turn that the agent answers next, the gap between them (ms)."""
    short = {(b.speaker, b.begin_ms) for b in backchannels}
    floor = [(i, t) for i, t in enumerate(turns) if (t.speaker, t.begin_ms) not in short]
    out = []
    for (i, t), (_, nxt) in zip(floor, floor[1:]):
        if t.role == CUSTOMER and nxt.role == AGENT and nxt.end_ms > t.end_ms:
            out.append(Latency(i, t.end_ms, nxt.begin_ms, nxt.begin_ms - t.end_ms))
    return out


def analyse_conversation(turns: Sequence[Turn], duration_ms: int, options: ConversationOptions) -> Conversation:
    """All conversation metrics of a call from its turns (sorted by start)."""
    talk = talk_time_ms(turns)
    silences = non_talk_spans(turns, duration_ms, min_ms=options.non_talk_min_ms)
    interruptions, backchannels = overlaps(turns, options)
    latencies = response_latencies(turns, backchannels)
    values = [x.latency_ms for x in latencies]
    return Conversation(
        talk_time_ms=talk,
        non_talk=NonTalk(sum(s.duration_ms for s in silences),
                         tuple(Silence(s.begin_ms, s.end_ms, s.duration_ms) for s in silences)),
        interruptions=tuple(interruptions),
        backchannels=tuple(backchannels),
        talk_speed=talk_speed(turns, talk),
        response_latency_ms=ResponseLatency(
            mean=round(sum(values) / len(values)) if values else None,
            max=max(values) if values else None,
            dead_air_count=sum(v > options.dead_air_ms for v in values),
            items=tuple(latencies),
        ),
    )
