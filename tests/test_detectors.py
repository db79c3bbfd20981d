"""Detectors on hand-made turns and prosody: each behaviour from DOMAIN.md, and its absence."""

from __future__ import annotations

import pytest

from audioqa.config import load_config
from audioqa.conversation import analyse_conversation
from audioqa.detectors import classify_customer, detect_events
from audioqa.records import Baseline, SegmentProsody, SpeakerProsody
from audioqa.records import Agitation, Turn, Word

CALM = {"f0_st": 0.0, "loudness_db": 0.0, "alpha_db": 0.0, "tilt_db_oct": 0.0, "periodicity": 0.0, "rate": 0.0}
STRAINED = {"f0_st": 1.0, "loudness_db": 2.0, "alpha_db": 2.5, "tilt_db_oct": 2.0, "periodicity": -2.5, "rate": 0.5}


def turn(speaker: str, role: str, begin_ms: int, end_ms: int, text: str) -> Turn:
    tokens = text.split()
    step = (end_ms - begin_ms) // len(tokens)
    words = tuple(Word(w, begin_ms + i * step, begin_ms + (i + 1) * step, 0.9, speaker) for i, w in enumerate(tokens))
    return Turn(speaker, role, begin_ms, end_ms, text, words)


def segment(index: int, t: Turn, z: dict, rate_rel: float = 0.0, f0_range_st: float = 6.0) -> SegmentProsody:
    return SegmentProsody(index, t.begin_ms, t.end_ms, t.end_ms - t.begin_ms, 150.0, z["f0_st"], f0_range_st, -20.0,
                          z["loudness_db"] * 1.5, 5.0, rate_rel, dict(z))


def prosody_for(turns: list[Turn], styles: dict[int, dict], shape: dict | None = None) -> list[SpeakerProsody]:
    out = []
    for speaker in dict.fromkeys(t.speaker for t in turns):
        own = [(i, t) for i, t in enumerate(turns) if t.speaker == speaker]
        segs = tuple(segment(i, t, styles.get(i, CALM), **(shape or {}).get(i, {})) for i, t in own)
        baseline = Baseline({k: 0.0 for k in CALM}, {k: 1.0 for k in CALM}, 6.0, len(segs))
        out.append(SpeakerProsody(speaker, own[0][1].role, "librosa.yin", baseline, 6.0, segs, segs, {}, {}))
    return out


@pytest.fixture
def config():
    return load_config()


def run(turns, styles, config, duration_ms=60000, shape=None):
    conversation = analyse_conversation(turns, duration_ms, config.conversation)
    return detect_events(turns, conversation, prosody_for(turns, styles, shape), config.detectors)


def complaint_call() -> list[Turn]:
    return [
        turn("A", "agent", 0, 3000, "hello how can I help you"),
        turn("C", "customer", 3500, 8000, "my parcel was supposed to arrive on monday"),
        turn("A", "agent", 8500, 10000, "let me check that"),
        turn("C", "customer", 10500, 16000, "the crew came without the documents again"),
        turn("A", "agent", 16500, 18000, "I see it now"),
        turn("C", "customer", 18500, 24000, "this has happened before and nobody helped"),
        turn("A", "agent", 30000, 33000, "you need to talk to the manager"),
    ]


def test_strained_customer_speech_is_agitation_and_calm_speech_is_not(config):
    turns = complaint_call()
    events, call, _ = run(turns, {5: STRAINED}, config)
    agitation = [e for e in events if e.type == "customer_agitation"]
    assert [(e.begin_ms, e.end_ms) for e in agitation] == [(18500, 24000)]
    assert agitation[0].score > 0.8 and agitation[0].evidence["acoustic"]["alpha_db"] > 0
    assert call.peak.turn == 5
    calm_events, calm_call, _ = run(turns, {}, config)
    assert not [e for e in calm_events if e.type == "customer_agitation"]
    assert calm_call.score < 0.3


def test_lexical_threat_reinforces_a_moderate_rise(config):
    turns = complaint_call()
    moderate = {k: v * 0.25 for k, v in STRAINED.items()}  # about one unit short of agitation
    assert not [e for e in run(turns, {5: moderate}, config)[0] if e.type == "customer_agitation"]
    turns[5] = turn("C", "customer", 18500, 24000, "I will take you to court and call a lawyer")
    assert [e for e in run(turns, {5: moderate}, config)[0] if e.type == "customer_agitation"]


def test_dead_air_after_an_agitated_turn_is_a_freeze(config):
    events, _, _ = run(complaint_call(), {5: STRAINED}, config)
    freeze = [e for e in events if e.type == "agent_freeze"]
    assert [(e.begin_ms, e.end_ms, e.evidence["kind"]) for e in freeze] == [(24000, 30000, "dead_air")]
    assert freeze[0].evidence["after_agitated_turn"]


def test_short_pauses_are_not_freezes(config):
    events, _, _ = run(complaint_call()[:6], {5: STRAINED}, config)
    assert not [e for e in events if e.type == "agent_freeze"]


def test_no_backchannel_through_a_long_customer_turn_is_a_freeze(config):
    turns = [turn("A", "agent", 0, 2000, "hello how can I help"),
             turn("C", "customer", 2500, 30000, " ".join(["words"] * 60)),
             turn("A", "agent", 30500, 32000, "I see")]
    events, _, _ = run(turns, {}, config)
    assert [e.evidence["kind"] for e in events if e.type == "agent_freeze"] == ["no_backchannel"]
    with_backchannel = turns + [turn("A", "agent", 10000, 10400, "嗯")]
    events, _, _ = run(sorted(with_backchannel, key=lambda t: t.begin_ms), {}, config)
    assert not [e for e in events if e.type == "agent_freeze"]


def test_agent_raising_their_voice_during_agitation_is_counter_escalation(config):
    turns = complaint_call()
    events, _, _ = run(turns, {5: STRAINED, 6: STRAINED}, config)
    counter = [e for e in events if e.type == "agent_counter_escalation"]
    assert len(counter) == 1 and counter[0].begin_ms == 30000 and counter[0].evidence["raised_voice"]
    calm_agent, _, _ = run(turns[:6] + [turn("A", "agent", 30000, 33000, "I will sort this out now")],
                           {5: STRAINED}, config)
    assert not [e for e in calm_agent if e.type == "agent_counter_escalation"]


def test_agent_interrupting_an_agitated_customer_is_counter_escalation(config):
    turns = complaint_call()[:6] + [turn("A", "agent", 21000, 26000, "please listen to me now")]
    turns.sort(key=lambda t: t.begin_ms)
    events, _, _ = run(turns, {5: STRAINED}, config)
    counter = [e for e in events if e.type == "agent_counter_escalation"]
    assert counter and counter[0].evidence["interrupted_customer"] == 1


def test_fast_flat_empathy_followed_by_more_agitation_is_dry_appeasement(config):
    turns = complaint_call()[:6] + [turn("A", "agent", 25000, 27000, "I understand how you feel"),
                                    turn("C", "customer", 27500, 33000, "no you do not understand anything at all")]
    styles = {5: STRAINED, 7: STRAINED}
    events, _, _ = run(turns, styles, config, shape={6: {"rate_rel": 0.3, "f0_range_st": 2.0}})
    assert [e.begin_ms for e in events if e.type == "dry_appeasement"] == [25000]
    warm, _, _ = run(turns, styles, config, shape={6: {"rate_rel": -0.1, "f0_range_st": 7.0}})
    assert not [e for e in warm if e.type == "dry_appeasement"]


def test_monotone_agent(config):
    turns = [turn("A", "agent", i * 4000, i * 4000 + 3000, "one two three") if i % 2 == 0 else
             turn("C", "customer", i * 4000, i * 4000 + 3000, "four five six") for i in range(10)]
    conversation = analyse_conversation(turns, 40000, config.conversation)
    prosody = prosody_for(turns, {})
    flat = [SpeakerProsody(p.speaker, p.role, p.f0_tracker, p.baseline, 1.5 if p.role == "agent" else 6.0,
                           p.turns, p.phrases, {}, {}) for p in prosody]
    events, _, _ = detect_events(turns, conversation, flat, config.detectors)
    assert [e.type for e in events if e.role == "agent"] == ["monotone_agent"]


def test_customer_kind_comes_from_behaviour_and_words(config):
    turns = [turn("A", "agent", 0, 2000, "hello how can I help"),
             turn("C", "customer", 2500, 8000, "I want a refund right now"),
             turn("A", "agent", 8500, 10000, "let me check")]
    conversation = analyse_conversation(turns, 12000, config.conversation)
    kind = classify_customer(turns, conversation, [], Agitation(), config.detectors)
    assert kind.kind == "leveraging" and kind.evidence["compensation"] == ["refund"]
    assert not {"sex", "gender", "age"} & set(kind.evidence)
    quiet = [turn("A", "agent", 0, 20000, " ".join(["talk"] * 40)), turn("C", "customer", 20500, 21000, "ok")]
    conversation = analyse_conversation(quiet, 22000, config.conversation)
    assert classify_customer(quiet, conversation, [], Agitation(), config.detectors).kind == "silent"


def test_cues_match_whole_words_and_ignore_script_and_punctuation():
    from audioqa.detectors import cue_hits

    assert cue_hits("This is an issue with my bill", ["sue", "court"]) == []
    assert cue_hits("I will SUE you, and take you to court!", ["sue", "court"]) == ["sue", "court"]
    assert cue_hits("我要找消費者協會", ["消费者协会"]) == ["消费者协会"]
