"""Speakers' words to turns, and agent vs customer from what they say."""

from __future__ import annotations

import numpy as np

from audioqa.config import load_config
from audioqa.diarization.voices import follow_voices, overlaps, phrases
from audioqa.records import SpeakerSegment, Word
from audioqa.turns import assign_roles_from_text, build_turns, join_words


def words(speaker: str, begin_ms: int, texts: str, step_ms: int = 300) -> list[Word]:
    return [Word(t, begin_ms + i * step_ms, begin_ms + (i + 1) * step_ms - 50, 0.9, speaker)
            for i, t in enumerate(texts.split())]


def test_a_backchannel_does_not_split_the_other_speakers_turn():
    ws = words("C", 0, "the crew came again without the documents") + [Word("嗯", 900, 1100, 0.9, "A")]
    turns = build_turns(ws, {"A": "agent", "C": "customer"}, max_pause_ms=1500, floor_words=3)
    assert [(t.speaker, t.role) for t in turns] == [("C", "customer"), ("A", "agent")]
    assert turns[0].text == "the crew came again without the documents"


def test_taking_the_floor_in_a_pause_splits_the_turn():
    ws = words("C", 0, "hello there") + words("A", 700, "how can I help") + words("C", 1900, "my order")
    turns = build_turns(ws, {}, max_pause_ms=1500, floor_words=3)
    assert [t.speaker for t in turns] == ["C", "A", "C"]


def test_a_long_pause_splits_the_turn():
    ws = words("C", 0, "hello") + words("C", 5000, "anyone there")
    assert len(build_turns(ws, {}, max_pause_ms=1500, floor_words=3)) == 2


def test_chinese_words_join_without_spaces():
    assert join_words([Word("您好", 0, 1, 1), Word("请问", 1, 2, 1), Word("OK", 2, 3, 1), Word("fine", 3, 4, 1)]) \
        == "您好请问OK fine"


def _turns(first: str, second: str):
    ws = words("S0", 0, first) + words("S1", 5000, second)
    return build_turns(ws, {}, max_pause_ms=1500, floor_words=3)


def test_agent_is_found_from_the_greeting_even_when_speaking_second():
    cues = load_config().roles.agent_cues
    roles = assign_roles_from_text(_turns("hello hello", "thank you for calling how can I help you"), cues,
                                   min_confidence=0.6)
    assert roles["S1"] == ("agent", 1.0) and roles["S0"] == ("customer", 1.0)


def test_chinese_self_introduction_marks_the_agent():
    cues = load_config().roles.agent_cues
    roles = assign_roles_from_text(_turns("喂 你好", "您好 很高兴为您服务 我是 客服 小王"), cues, min_confidence=0.6)
    assert roles["S1"][0] == "agent"


def test_without_cues_the_first_speaker_is_the_agent_at_low_confidence():
    cues = load_config().roles.agent_cues
    roles = assign_roles_from_text(_turns("good morning", "hi there"), cues, min_confidence=0.6)
    assert roles["S0"] == ("agent", 0.5) and roles["S1"] == ("customer", 0.5)


def voices_call() -> tuple[np.ndarray, list[Word]]:
    """Six phrases of 0.55 s, one a second, alternating between voice A (samples 1.0) and voice B
    (samples 2.0); the diarisation heard the last two as one speaker, S1."""
    samples = np.zeros(16000 * 7, dtype=np.float32)
    said = []
    for i, (voice, speaker) in enumerate([("A", "S0"), ("B", "S1"), ("A", "S0"), ("B", "S1"), ("A", "S1"), ("B", "S1")]):
        samples[16000 * i:16000 * (i + 1)] = 1.0 if voice == "A" else 2.0
        said += words(speaker, 1000 * i + 50, f"{voice.lower()}{i} said this.", step_ms=200)
    return samples, said


def fake_embed(clip: np.ndarray) -> np.ndarray:
    """A stand-in for the speaker-embedding network: which of the two test voices the clip holds."""
    return np.array([np.mean(clip == 1.0), np.mean(clip == 2.0)])


def test_a_phrase_goes_to_the_speaker_whose_voice_it_sounds_like():
    samples, said = voices_call()
    moved = follow_voices(said, samples, fake_embed, min_phrase_ms=500)
    assert [w.speaker for w in moved if w.text.startswith("a4")] == ["S0"]  # voice A, diarised as S1
    assert {w.speaker for w in moved if w.text.startswith("b")} == {"S1"}
    assert {w.speaker for w in moved if w.text.startswith("a") and not w.text.startswith("a4")} == {"S0"}


def test_phrases_too_short_to_carry_a_voice_keep_their_speaker():
    samples, said = voices_call()
    assert follow_voices(said, samples, fake_embed, min_phrase_ms=2000) == said


def test_a_phrase_ends_at_a_pause_and_not_at_a_full_stop():
    # a full stop is no sign of another voice, and "yes." alone is too short to place by its voice
    runs = phrases(words("S0", 0, "yes. I see it") + words("S0", 5000, "bye"), max_pause_ms=300)
    assert [" ".join(w.text for w in run) for run in runs] == ["yes. I see it", "bye"]


def test_a_phrase_said_over_the_other_speaker_keeps_its_speaker():
    samples, said = voices_call()  # phrase a4, voice A diarised as S1, lies in 4-5 s
    kept = follow_voices(said, samples, fake_embed, min_phrase_ms=500, overlapped=[(4500, 4700)])
    assert [w.speaker for w in kept if w.text.startswith("a4")] == ["S1"]


def test_overlaps_are_where_two_speakers_are_heard_at_once():
    speech = [SpeakerSegment("S0", 0, 1000), SpeakerSegment("S1", 800, 2000), SpeakerSegment("S0", 1900, 2500)]
    assert overlaps(speech) == [(800, 1000), (1900, 2000)]
