"""Conversation metrics on hand-made turns (AWS Transcribe Call Analytics definitions)."""

from __future__ import annotations

import pytest

from audioqa.config import load_config
from audioqa.conversation import analyse_conversation, non_talk_spans
from audioqa.records import Silence, Turn, Word


def turn(speaker: str, role: str, begin_ms: int, end_ms: int, text: str) -> Turn:
    tokens = text.split()
    step = (end_ms - begin_ms) // len(tokens)
    words = tuple(Word(w, begin_ms + i * step, begin_ms + (i + 1) * step, 0.9, speaker) for i, w in enumerate(tokens))
    return Turn(speaker, role, begin_ms, end_ms, text, words)


@pytest.fixture
def options():
    return load_config().conversation


def test_interruption_is_attributed_to_the_interrupter(options):
    turns = [turn("A", "agent", 0, 4000, "hello how can I help you today"),
             turn("C", "customer", 5000, 12000, "my order never arrived and nobody called me back"),
             turn("A", "agent", 9000, 13000, "please listen to me for a second")]
    c = analyse_conversation(turns, 15000, options)
    assert len(c.interruptions) == 1
    i = c.interruptions[0]
    assert (i.interrupter, i.interrupter_role, i.interrupted) == ("A", "agent", "C")
    assert (i.begin_ms, i.end_ms, i.duration_ms) == (9000, 12000, 3000)
    assert c.backchannels == ()


def test_short_overlap_of_two_words_is_a_backchannel_not_an_interruption(options):
    turns = [turn("C", "customer", 0, 8000, "the crew came without documents again for the third time"),
             turn("A", "agent", 3000, 3500, "嗯 是的")]
    c = analyse_conversation(turns, 9000, options)
    assert c.interruptions == ()
    assert [(b.speaker, b.begin_ms, b.text) for b in c.backchannels] == [("A", 3000, "嗯 是的")]


def test_three_word_overlap_is_an_interruption_even_if_short(options):
    turns = [turn("C", "customer", 0, 8000, "the crew came without documents again"),
             turn("A", "agent", 3000, 3900, "calm down please")]
    c = analyse_conversation(turns, 9000, options)
    assert len(c.interruptions) == 1 and c.backchannels == ()


def test_non_talk_lists_silences_above_the_threshold():
    turns = [turn("A", "agent", 1000, 3000, "hello there"), turn("C", "customer", 3500, 5000, "hi"),
             turn("A", "agent", 9000, 10000, "sorry")]
    spans = non_talk_spans(turns, 14000, min_ms=2000)
    assert [(s.begin_ms, s.end_ms) for s in spans] == [(5000, 9000), (10000, 14000)]


def test_talk_time_and_non_talk_total(options):
    turns = [turn("A", "agent", 0, 2000, "hello"), turn("C", "customer", 1500, 4000, "hi there"),
             turn("A", "agent", 10000, 11000, "ok")]
    c = analyse_conversation(turns, 12000, options)
    assert c.talk_time_ms == {"agent": 3000, "customer": 2500}
    assert c.non_talk.total_ms == 6000
    assert c.non_talk.spans == (Silence(begin_ms=4000, end_ms=10000, duration_ms=6000),)


def test_agent_response_latency_after_each_customer_turn(options):
    turns = [turn("A", "agent", 0, 2000, "hello how can I help"),
             turn("C", "customer", 2500, 6000, "my parcel is late"),
             turn("A", "agent", 10000, 12000, "let me check"),
             turn("C", "customer", 12500, 14000, "thanks"),
             turn("A", "agent", 14200, 15000, "done")]
    c = analyse_conversation(turns, 16000, options)
    lat = c.response_latency_ms
    assert [x.latency_ms for x in lat.items] == [4000, 200]
    assert lat.max == 4000 and lat.mean == 2100
    assert lat.dead_air_count == 1  # 4 s > 3 s of dead air


def test_talk_speed_in_words_and_chinese_characters_per_minute(options):
    turns = [turn("A", "agent", 0, 6000, "您好 很高兴 为您服务"),  # 3 words, 9 characters in 6 s
             turn("C", "customer", 7000, 13000, "one two three four five six")]
    speed = analyse_conversation(turns, 14000, options).talk_speed
    assert speed["agent"] == {"words_per_minute": 30.0, "chars_per_minute": 90.0}
    assert speed["customer"] == {"words_per_minute": 60.0}
