"""The evaluation protocols: agitation per corpus, worst case across corpora and leaving one corpus out;
whole calls against labelled agitation spans."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from audioqa.audio import decode_audio
from audioqa.errors import AudioQAError
from audioqa.evaluation.agitation import corpus_figures, evaluate_agitation, fit_logistic, worst_case
from audioqa.evaluation.calls import parse_spans, score_call, summarise

from .conftest import sample_path, truth


def test_figures_of_one_corpus_count_each_emotion_at_90pct_angry_recall():
    emotions = ["angry"] * 10 + ["neutral"] * 4 + ["happy"] * 4
    scores = np.array([*range(10, 20), 0, 1, 2, 15, 5, 12, 18, 19], float)
    figures = corpus_figures("c", emotions, scores)
    assert figures["threshold_at_90pct_recall"] == pytest.approx(10.9)  # 9 of 10 angry clips at or above
    assert figures["flagged_neutral"] == 0.25 and figures["flagged_happy"] == 0.75
    assert figures["flagged_sad"] is None and figures["flagged_calm"] is None
    assert figures["auc"] == pytest.approx((3 * 10 + 4.5) / 40)  # the neutral 15 beats five angry clips and ties one


def test_the_worst_case_is_the_lowest_auc_and_the_highest_share_flagged():
    a = {"auc": 0.9, "flagged_neutral": 0.1, "flagged_calm": None, "flagged_happy": 0.2, "flagged_sad": 0.6}
    b = {"auc": 0.7, "flagged_neutral": 0.3, "flagged_calm": None, "flagged_happy": 0.1, "flagged_sad": None}
    assert worst_case([a, b]) == {"corpus": "worst", "auc": 0.7, "flagged_neutral": 0.3, "flagged_calm": None,
                                  "flagged_happy": 0.2, "flagged_sad": 0.6}


def test_a_logistic_regression_finds_the_feature_that_separates_the_classes():
    rng = np.random.default_rng(0)
    y = np.repeat([0.0, 1.0], 100)
    x = np.column_stack([rng.normal(size=200), y * 2 + rng.normal(size=200)])
    w = fit_logistic(x, y)
    assert w[1] > 1.0 and abs(w[0]) < 0.3


def _corpus_from_sample_call(call_id: str, folder: Path) -> Path:
    """A manifest of one sample call's turns cut into clips: agitated turns are "angry", calm ones "neutral"."""
    audio = decode_audio(sample_path(call_id), silent_peak_dbfs=-60.0).samples.mean(axis=0)
    folder.mkdir()
    lines = ["path\temotion\tspeaker"]
    for i, turn in enumerate(truth(call_id)["turns"]):
        name = f"{i:02d}.wav"
        sf.write(folder / name, audio[turn["begin_ms"] * 16:turn["end_ms"] * 16], 16000)
        lines.append(f"{name}\t{'angry' if turn['style'] == 'agitated' else 'neutral'}\t{turn['role']}")
    (folder / "MANIFEST.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "MANIFEST.tsv"


def test_agitated_sample_turns_outscore_calm_ones_in_every_corpus_and_the_worst_case_says_so(tmp_path, config):
    manifests = [_corpus_from_sample_call(c, tmp_path / c) for c in ("en_complaint_mono", "zh_complaint_stereo")]
    result = evaluate_agitation(manifests, config, gain_normalize=True, loco=True)
    assert [c["corpus"] for c in result["corpora"]] == ["en_complaint_mono", "zh_complaint_stereo"]
    assert all(c["auc"] >= 0.8 for c in result["corpora"]), result["corpora"]
    assert result["worst"]["auc"] == min(c["auc"] for c in result["corpora"])
    held_out = result["loco"]["corpora"]
    assert [c["corpus"] for c in held_out] == ["en_complaint_mono", "zh_complaint_stereo"]
    assert set(held_out[0]["weights"]) == {"f0_st", "loudness_db", "alpha_db", "tilt_db_oct", "periodicity", "rate"}


def test_leaving_one_corpus_out_needs_two_corpora(tmp_path, config):
    with pytest.raises(AudioQAError, match="two manifests"):
        evaluate_agitation([tmp_path / "MANIFEST.tsv"], config, loco=True)


def _report(*events: tuple[str, int, int]) -> SimpleNamespace:
    """Only what scoring a call reads: its events."""
    return SimpleNamespace(events=[SimpleNamespace(type=t, begin_ms=b, end_ms=e) for t, b, e in events])


def test_labelled_spans_are_read_as_begin_end_in_ms():
    assert parse_spans("1000-2500; 4000-5000") == [(1000, 2500), (4000, 5000)]
    assert parse_spans("") == []
    with pytest.raises(AudioQAError, match="not begin-end"):
        parse_spans("1000")


def test_a_call_counts_spans_found_false_alarms_and_counter_escalation_on_a_calm_agent():
    report = _report(("customer_agitation", 900, 1200), ("customer_agitation", 8000, 9000),
                     ("agent_counter_escalation", 9500, 9800))
    scored = score_call(report, [(1000, 2000), (3000, 4000)])
    assert scored == {"spans": 2, "spans_found": 1, "false_alarms": 1, "counter_escalation_on_calm_agent": 1}
    assert score_call(report, [], agent_calm=False)["counter_escalation_on_calm_agent"] == 0


def test_the_summary_gives_recall_false_alarm_calls_and_customers_agitated_from_the_start():
    calls = [{"spans": 2, "spans_found": 2, "false_alarms": 0, "counter_escalation_on_calm_agent": 0, "from_start": True},
             {"spans": 2, "spans_found": 0, "false_alarms": 0, "counter_escalation_on_calm_agent": 0, "from_start": True},
             {"spans": 0, "spans_found": 0, "false_alarms": 1, "counter_escalation_on_calm_agent": 2, "from_start": False}]
    assert summarise(calls) == {"calls": 3, "span_recall": 0.5, "calls_with_false_alarm": 0.333,
                                "from_start_found": 0.5, "calm_agent_counter_escalation_calls": 1}


def _words_report(*turns: tuple[str, str, int]) -> dict:
    """A report's JSON form with one word per 100 ms: (role, text, begin_ms) per turn."""
    return {"turns": [{"role": role, "words": [{"text": w, "begin_ms": begin + 100 * i}
                                               for i, w in enumerate(text.split())]}
                      for role, text, begin in turns]}


def test_attribution_wer_counts_a_word_on_the_wrong_party_twice_and_in_wder():
    from tools.attribution_wer import attribution_wer

    reference = _words_report(("customer", "I want him replaced", 0), ("agent", "that is not my job", 1000))
    same = attribution_wer(reference, reference)
    assert (same["plain_wer"], same["difference_points"], same["wder"]) == (0.0, 0.0, 0.0)
    moved = attribution_wer(reference, _words_report(("customer", "I want him replaced that", 0),
                                                     ("agent", "is not my job", 1000)))
    assert moved["plain_wer"] == 0.0                               # the same words in the same order ...
    assert moved["attributed_wer"] == round(100 * 2 / 9, 1)        # ... but "that" is missing and inserted
    assert moved["wder"] == round(100 / 9, 1)                      # one word of nine on the wrong party
