"""The real models on the shipped sample calls: what a QA lead would check by listening.

Marked slow; ``make test`` runs them (real models are part of what we test).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate

from audioqa.config import load_config
from audioqa.evaluation.accuracy import read_rttm
from audioqa.output import write_report
from audioqa.output.report import to_rttm
from audioqa.pipeline import analyze_file
from audioqa.records import Word
from audioqa.text import IndexedText, find_pinyin, normalise

from .conftest import SAMPLE_CALLS, SAMPLES, sample_path, truth

pytestmark = pytest.mark.slow

# Characters that exist only in traditional Chinese (their simplified forms differ).
# DER at collar 0.25 s of each report's RTTM against the script's; measured 3.9 %, 13.3 % (the diarisation's
# own: short overlapping back-channels), 7.4 % (the VAD's 200 ms padding against tight synthetic turns), 3.2 %
DER_LIMITS = {"zh_complaint_stereo": 0.06, "zh_complaint_mono": 0.18, "en_support_stereo_8k": 0.10,
              "en_complaint_mono": 0.06}
TRADITIONAL_ONLY = set("這們個說話經務為謝問題處證貨車隊電態還與們麼對會時見從發點實讓幫釋")


def word_role_agreement(report, truth_turns) -> float:
    """Share of recognised words whose role matches the scripted turn they fall in (overlaps skipped)."""
    hits = total = 0
    for t in report.turns:
        for w in t.words:
            mid = (w.begin_ms + w.end_ms) / 2
            scripted = {s["role"] for s in truth_turns if s["begin_ms"] <= mid < s["end_ms"]}
            if len(scripted) == 1:
                total += 1
                hits += scripted == {t.role}
    return hits / total


@pytest.mark.parametrize("call_id", ["zh_complaint_stereo", "en_support_stereo_8k"])
def test_stereo_call_takes_roles_from_the_channel_map(reports, call_id):
    report = reports[call_id]
    assert report.options.layout == "stereo"
    assert {(s.id, s.role, s.channel) for s in report.speakers} == {("ch0", "agent", 0), ("ch1", "customer", 1)}
    assert "diarization" not in report.timings_ms
    assert word_role_agreement(report, truth(call_id)["turns"]) > 0.95


@pytest.mark.parametrize("call_id", ["zh_complaint_stereo", "en_support_stereo_8k"])
def test_turns_follow_the_scripted_speaker_order(reports, call_id):
    report = reports[call_id]
    scripted = truth(call_id)["turns"]
    assert report.turns[0].role == scripted[0]["role"] == "agent"
    for i, s in enumerate(scripted):
        others = scripted[:i] + scripted[i + 1:]
        if any(min(o["end_ms"], s["end_ms"]) > max(o["begin_ms"], s["begin_ms"]) for o in others):
            continue  # overlapped speech: checked by the interruption tests
        # the recognised turn that overlaps this scripted turn most has its role
        best = max(report.turns, key=lambda t: min(t.end_ms, s["end_ms"]) - max(t.begin_ms, s["begin_ms"]))
        assert min(best.end_ms, s["end_ms"]) > max(best.begin_ms, s["begin_ms"]), f"scripted turn {i} not found"
        assert best.role == s["role"], (i, s["text"], best.text)


@pytest.mark.parametrize("call_id", ["zh_complaint_mono", "en_complaint_mono"])
def test_mono_call_is_diarised_into_agent_and_customer(reports, call_id):
    report = reports[call_id]
    assert report.options.layout == "mono"
    assert sorted(s.role for s in report.speakers) == ["agent", "customer"]
    assert all(s.role_confidence >= 0.6 for s in report.speakers)
    assert word_role_agreement(report, truth(call_id)["turns"]) > 0.95


def test_words_stay_with_the_party_who_said_them_across_a_change_of_speaker(reports):
    # a mono call is recognised one diarised speaker at a time; recognising the mix put the customer's
    # "I want him replaced" in an agent turn and the agent's "That" in a customer turn. Each party's words
    # are read in order across turns: where a pause splits "That | is not my job" into two agent turns
    # (Whisper can time a word after a VAD join early), the words are still the agent's.
    turns = reports["en_complaint_mono"].turns
    words_of = {role: normalise(" ".join(t.text for t in turns if t.role == role)) for role in ("agent", "customer")}
    said_by = lambda phrase: {role for role, words in words_of.items() if phrase in words}  # noqa: E731
    assert said_by("i want him replaced") == {"customer"}
    assert said_by("that is not my job") == {"agent"}


@pytest.mark.parametrize("call_id", SAMPLE_CALLS)
def test_the_rttm_follows_the_speech_heard_not_the_words(reports, call_id):
    # built from each channel's voice activity or from the diarisation, so speech with no words counts too
    report = reports[call_id]
    hypothesis = Annotation()
    for s in report.speech:
        hypothesis[Segment(s.begin_ms / 1000, s.end_ms / 1000)] = s.speaker
    assert to_rttm(report).count("SPEAKER") == len(report.speech) > 0
    der = DiarizationErrorRate(collar=0.25)(read_rttm(SAMPLES / f"{call_id}.rttm"), hypothesis)
    assert der < DER_LIMITS[call_id]


def test_channel_map_override_swaps_the_roles(models):
    config = load_config(overrides={"channels": {"agent": 1, "customer": 0}, "asr": {"language": "en"}})
    report = analyze_file(sample_path("en_support_stereo_8k"), models, config)
    assert {(s.channel, s.role) for s in report.speakers} == {(1, "agent"), (0, "customer")}
    assert report.turns[0].role == "customer"  # channel 0 (the scripted agent) now plays the customer


def test_fake_stereo_is_diarised_as_mono(models, tmp_path):
    mono, rate = sf.read(sample_path("en_complaint_mono"), dtype="float32")
    path = tmp_path / "fake_stereo.wav"
    sf.write(path, np.stack([mono, mono], axis=1), rate)
    config = load_config(overrides={"asr": {"language": "en"}})
    report = analyze_file(path, models, config)
    assert report.source.channels == 2
    assert report.options.layout == "mono"
    assert sorted(s.role for s in report.speakers) == ["agent", "customer"]
    assert all(s.channel is None for s in report.speakers)


def test_english_transcripts_contain_the_scripted_key_phrases(reports):
    support = " ".join(t.text for t in reports["en_support_stereo_8k"].turns).lower()
    for phrase in ("thank you for calling", "my name is sarah", "let me check your line", "technician tomorrow"):
        assert phrase in support
    complaint = " ".join(t.text for t in reports["en_complaint_mono"].turns).lower()
    for phrase in ("delivery crew", "third time", "regional manager", "i understand how you feel"):
        assert phrase in complaint
    assert reports["en_support_stereo_8k"].language == "en"


@pytest.mark.parametrize("call_id", ["zh_complaint_stereo", "zh_complaint_mono"])
def test_mandarin_comes_out_in_simplified_characters(reports, call_id):
    report = reports[call_id]
    text = "".join(t.text for t in report.turns)
    assert report.language == "zh"
    assert len(text) > 100
    assert not TRADITIONAL_ONLY & set(text)
    index = IndexedText.from_words([Word(text, 0, 0, 1.0)])
    for phrase in ("很高兴为您服务", "送货队", "经理"):
        # heard, up to a homophone slip (经历 for 经理 on some CPUs' int8 kernels): what pinyin rules match
        assert find_pinyin(index, phrase), phrase


def test_interrupting_agent_is_caught_on_the_stereo_complaint(reports):
    conv = reports["zh_complaint_stereo"].conversation
    assert any(i.interrupter_role == "agent" for i in conv.interruptions)
    assert conv.response_latency_ms.max >= 2000  # the scripted 2.6-3.2 s of dead air


def test_a_silent_party_gets_no_invented_words(models, config, tmp_path):
    """The customer's channel carries only line noise and then hold music: Whisper must stay quiet."""
    agent, rate = sf.read(sample_path("en_support_stereo_8k"), dtype="float32")
    n = len(agent)
    rng = np.random.default_rng(1)
    t = np.arange(n) / rate
    music = 0.05 * sum(np.sin(2 * np.pi * f * t) for f in (262, 330, 392)) * (np.sin(2 * np.pi * 0.5 * t) > 0)
    customer = rng.normal(0, 0.002, n) + np.where(t > t[-1] / 2, music, 0)
    path = tmp_path / "silent_customer.wav"
    sf.write(path, np.stack([agent[:, 0], customer], axis=1).astype(np.float32), rate)
    report = analyze_file(path, models, config)
    assert [t.text for t in report.turns if t.role == "customer"] == []
    assert any(t.role == "agent" for t in report.turns)


def test_report_files_and_schema(reports, tmp_path):
    report = reports["zh_complaint_mono"]
    paths = write_report(report, tmp_path)
    assert sorted(p.name for p in paths) == ["zh_complaint_mono.json", "zh_complaint_mono.rttm",
                                             "zh_complaint_mono.srt"]
    data = json.loads((tmp_path / "zh_complaint_mono.json").read_text(encoding="utf-8"))
    for key in ("schema_version", "call_id", "source", "language", "models", "speakers", "turns", "conversation",
                "timings_ms", "prosody", "events", "agitation", "customer_kind"):
        assert key in data
    assert set(data["source"]) == {"path", "sha256", "duration_ms", "sample_rate_hz", "channels"}
    assert data["source"]["sample_rate_hz"] == 16000 and data["source"]["channels"] == 1
    assert "whisper:base" in data["models"]["asr"] and "pyannote" in data["models"]["diarization"]
    turn = data["turns"][0]
    assert set(turn) == {"speaker", "role", "begin_ms", "end_ms", "text", "words"}
    assert set(turn["words"][0]) == {"text", "begin_ms", "end_ms", "prob"}
    assert set(data["conversation"]) == {"talk_time_ms", "non_talk", "interruptions", "backchannels", "talk_speed",
                                         "response_latency_ms"}
    assert all(isinstance(turn["begin_ms"], int) for turn in data["turns"])
    assert "[agent]" in (tmp_path / "zh_complaint_mono.srt").read_text(encoding="utf-8")
    assert (tmp_path / "zh_complaint_mono.rttm").read_text().startswith("SPEAKER zh_complaint_mono 1 ")
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def scripted_spans(call_id: str, role: str, style: str) -> list[tuple[int, int]]:
    return [(t["begin_ms"], t["end_ms"]) for t in truth(call_id)["turns"] if t["role"] == role and t["style"] == style]


def overlaps_any(event, spans) -> bool:
    return any(event.begin_ms < end and event.end_ms > begin for begin, end in spans)


@pytest.mark.parametrize("call_id", ["zh_complaint_stereo", "en_complaint_mono"])
def test_agitated_customer_is_found_where_the_script_is_agitated(reports, call_id):
    report = reports[call_id]
    agitation = [e for e in report.events if e.type == "customer_agitation"]
    assert agitation, "no customer_agitation event"
    assert any(overlaps_any(e, scripted_spans(call_id, "customer", "agitated")) for e in agitation)
    assert report.agitation.peak.score >= 0.5
    for e in agitation:
        assert e.role == "customer" and 0 <= e.score <= 1 and e.evidence["acoustic"]


def test_calm_call_has_no_agitation(reports):
    report = reports["en_support_stereo_8k"]
    assert not [e for e in report.events if e.type in ("customer_agitation", "agent_counter_escalation")]
    assert report.agitation.peak.score < 0.5


@pytest.mark.parametrize("call_id", ["zh_complaint_stereo", "en_complaint_mono"])
def test_dead_air_after_an_angry_turn_is_an_agent_freeze(reports, call_id):
    freeze = [e for e in reports[call_id].events if e.type == "agent_freeze"]
    assert any(e.evidence["kind"] == "dead_air" and e.evidence["after_agitated_turn"] for e in freeze)


def test_agent_who_raises_their_voice_and_interrupts_is_counter_escalating(reports):
    counter = [e for e in reports["zh_complaint_stereo"].events if e.type == "agent_counter_escalation"]
    assert any(overlaps_any(e, scripted_spans("zh_complaint_stereo", "agent", "agitated")) for e in counter)
    assert any(e.evidence["interrupted_customer"] for e in counter)


def test_agent_who_stays_calm_under_pressure_is_not_counter_escalating(reports):
    assert not [e for e in reports["zh_complaint_mono"].events if e.type == "agent_counter_escalation"]


def test_prosody_is_reported_per_speaker(reports):
    report = reports["zh_complaint_stereo"]
    assert {p.role for p in report.prosody} == {"agent", "customer"}
    for p in report.prosody:
        assert p.f0_tracker == "librosa.yin"
        assert p.baseline.median["f0_st"] is not None and p.baseline.median["loudness_db"] is not None
        assert len(p.turns) == sum(1 for t in report.turns if t.speaker == p.speaker)
        assert len(p.series["t_ms"]) == len(p.series["f0_hz"]) == len(p.series["loudness_db"]) > 50
        assert all(0 <= s <= 100 for s in p.loudness_score["score"])
    customer = next(p for p in report.prosody if p.role == "customer")
    assert 100 < 2 ** (customer.baseline.median["f0_st"] / 12) < 300  # f0_st is in semitones re 1 Hz


def test_events_do_not_depend_on_recording_gain(reports, models, config, tmp_path):
    samples, rate = sf.read(sample_path("zh_complaint_stereo"), dtype="float32")
    reference = reports["zh_complaint_stereo"].events
    for gain_db in (-12, 6):
        path = tmp_path / f"gain{gain_db}.wav"
        sf.write(path, samples * 10 ** (gain_db / 20), rate, subtype="FLOAT")  # float: +6 dB does not clip
        events = analyze_file(path, models, config).events
        assert sorted({e.type for e in events}) == sorted({e.type for e in reference}), gain_db
        for e in reference:
            assert any(o.type == e.type and o.begin_ms < e.end_ms and o.end_ms > e.begin_ms for o in events), (gain_db, e)


def failed_rules(report) -> set[str]:
    return {r.id for r in report.rules if r.applicable and not r.passed}


def test_the_badly_handled_complaint_scores_lower_than_the_well_handled_one(reports):
    bad, good = reports["zh_complaint_stereo"], reports["zh_complaint_mono"]
    assert bad.score.total < good.score.total - 30
    assert not bad.score.passed and good.score.passed
    assert {"forbidden.not_my_fault", "forbidden.calm_down", "forbidden.busy", "counter.phrases",
            "proactive.customer_had_to_ask", "empathy.acknowledge"} <= failed_rules(bad)
    assert {"greeting", "empathy.acknowledge", "empathy.before_solution", "forbidden.busy"}.isdisjoint(failed_rules(good))
    assert "escalation_threat" in bad.score.flags and "escalation_threat" not in good.score.flags
    for r in bad.rules:
        for hit in r.hits:
            assert hit.end_ms >= hit.begin_ms and hit.role in ("agent", "customer")


def test_english_complaint_breaks_the_english_rules(reports):
    report = reports["en_complaint_mono"]
    assert {"forbidden.talk_to_manager", "forbidden.not_my_job", "proactive.customer_had_to_ask"} <= failed_rules(report)
    assert "escalation_threat" in report.score.flags
    assert reports["en_support_stereo_8k"].score.passed


def test_stereo_calls_never_load_the_diarisation_models():
    # a fresh process, as in a batch worker: torch comes in only with the first one-channel call
    script = """
import sys
from audioqa import load_config, load_models
from audioqa.pipeline import analyze_file
config = load_config(overrides={"asr": {"language": "en"}})
models = load_models(config.models, config.diarization, lazy_diarization=True)
stereo = analyze_file(sys.argv[1], models, config)
print("torch after stereo:", "torch" in sys.modules, sorted(stereo.models))
mono = analyze_file(sys.argv[2], models, config)
print("torch after mono:", "torch" in sys.modules, sorted(mono.models))
"""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", script, str(sample_path("en_support_stereo_8k")),
                          str(sample_path("en_complaint_mono"))], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "torch after stereo: False ['asr']" in run.stdout
    assert "torch after mono: True ['asr', 'diarization']" in run.stdout


def test_the_pipeline_reports_each_stage_to_a_hook_in_order(models, config):
    from audioqa.pipeline import STAGES, decode_and_analyze

    seen = []
    audio, report = decode_and_analyze(sample_path("en_support_stereo_8k"), models, config,
                                       hook=lambda stage, artefact: seen.append((stage, type(artefact).__name__)))
    assert [stage for stage, _ in seen] == list(STAGES)
    assert dict(seen)["decode"] == "Audio" and dict(seen)["rules"] == "Scorecard"
    assert list(report.timings_ms) == list(STAGES) and audio.duration_ms == report.source.duration_ms


def test_hold_music_is_unscorable_not_a_pass(tmp_path, models, config):
    """Hold music (a chord with a beat) and DTMF-like beeps: no words, so no verdict that could pass."""
    t = np.arange(20 * 8000) / 8000
    music = sum(0.08 * np.sin(2 * np.pi * f * t) for f in (262, 330, 392)) * (0.6 + 0.4 * (np.sin(2 * np.pi * 2 * t) > 0))
    path = tmp_path / "hold.wav"
    sf.write(path, music.astype(np.float32), 8000, subtype="ULAW")
    score = analyze_file(path, models, config.model_copy(update={"asr": config.asr.model_copy(update={"language": "en"})})).score
    assert score is not None and not score.scorable and not score.passed
    assert "no_speech" in score.flags


def test_a_dead_customer_channel_is_flagged_and_never_passes(tmp_path, models, config):
    samples, rate = sf.read(sample_path("en_support_stereo_8k"), dtype="float32")
    samples[:, truth("en_support_stereo_8k")["channels"]["customer"]] = 0.0
    path = tmp_path / "dead_line.wav"
    sf.write(path, samples, rate)
    report = analyze_file(path, models, config)
    assert not [t for t in report.turns if t.role == "customer"]
    assert not report.score.scorable and not report.score.passed
    assert "customer_silent" in report.score.flags
