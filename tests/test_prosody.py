"""Prosody on synthetic signals whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from audioqa.config import load_config
from audioqa.errors import ParameterError
from audioqa.prosody import (count_units, frame_features, make_baseline, measure, relative_z, speaker_prosody,
                             speaking_rate, split_phrases)
from audioqa.records import Turn, Word

SR = 16000


def frames_of(y: np.ndarray):
    return frame_features(y.astype(np.float32), sr=SR, frame_ms=40, hop_ms=10, f0_min_hz=60.0, f0_max_hz=500.0)


def voice(f0_hz: np.ndarray | float, seconds: float, level: float = 0.2) -> np.ndarray:
    """A buzzy harmonic voice-like signal with a (possibly gliding) fundamental."""
    n = int(seconds * SR)
    f0 = np.broadcast_to(np.asarray(f0_hz, float), (n,)) if np.ndim(f0_hz) == 0 else np.asarray(f0_hz)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(np.sin(k * phase) / k for k in range(1, 8))
    return level * y / np.abs(y).max()


@pytest.mark.parametrize("f0_hz", [90.0, 150.0, 220.0, 330.0])
def test_f0_of_a_steady_voice_within_2_percent(f0_hz):
    f = frames_of(voice(f0_hz, 1.0))
    voiced = f.f0_hz[np.isfinite(f.f0_hz)]
    assert len(voiced) > 80
    assert np.median(voiced) == pytest.approx(f0_hz, rel=0.02)


def test_f0_follows_a_glide_within_2_percent():
    track = np.linspace(120.0, 240.0, 2 * SR)  # one octave up in 2 s
    f = frames_of(voice(track, 2.0))
    expected = np.interp(f.t_ms, np.arange(len(track)) * 1000 / SR, track)
    ok = np.isfinite(f.f0_hz) & (f.t_ms > 50) & (f.t_ms < 1950)
    assert ok.sum() > 150
    assert np.median(np.abs(f.f0_hz[ok] / expected[ok] - 1)) < 0.02
    assert np.percentile(np.abs(f.f0_hz[ok] / expected[ok] - 1), 90) < 0.02


def test_noise_is_unvoiced_and_less_periodic_than_a_voice():
    rng = np.random.default_rng(0)
    noise = frames_of(rng.normal(0, 0.1, SR))
    tone = frames_of(voice(150.0, 1.0))
    assert np.isfinite(noise.f0_hz).mean() < 0.2
    assert noise.periodicity.mean() < tone.periodicity.mean() - 0.3


def test_a_6_db_step_in_loudness_is_found():
    quiet, loud = voice(150.0, 1.0, level=0.05), voice(150.0, 1.0, level=0.05 * 10 ** (6 / 20))
    f = frames_of(np.concatenate([quiet, loud]))
    first = np.median(f.loudness_db[(f.t_ms > 100) & (f.t_ms < 900)])
    second = np.median(f.loudness_db[(f.t_ms > 1100) & (f.t_ms < 1900)])
    assert second - first == pytest.approx(6.0, abs=0.3)


def test_a_long_signal_is_measured_in_blocks_with_the_same_values_as_in_one_piece(monkeypatch):
    from audioqa import prosody

    rng = np.random.default_rng(1)
    y = np.concatenate([voice(np.linspace(120, 260, 3 * SR), 3.0), rng.normal(0, 0.01, SR // 2 + 77),
                        voice(180.0, 2.0, level=0.5)])
    monkeypatch.setattr(prosody, "_BLOCK_FRAMES", 10**9)
    whole = frames_of(y)
    monkeypatch.setattr(prosody, "_BLOCK_FRAMES", 70)  # block edges every 0.7 s, some inside the voice
    blocks = frames_of(y)
    for name in ("t_ms", "f0_hz", "loudness_db", "alpha_db", "periodicity", "active", "tilt_power"):
        np.testing.assert_allclose(getattr(blocks, name), getattr(whole, name), rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def test_pitch_search_range_is_checked():
    with pytest.raises(ParameterError, match="too short for f0_min_hz"):
        frame_features(np.zeros(SR, np.float32), sr=SR, frame_ms=20, hop_ms=10, f0_min_hz=60.0, f0_max_hz=500.0)


def test_speaking_rate_from_word_timings_excludes_pauses():
    words = [Word("您好", 0, 500, 1.0), Word("很高兴", 2000, 2500, 1.0)]  # 5 characters in 1 s of words
    assert speaking_rate(words, "zh") == pytest.approx(5.0)
    english = [Word("thank", 0, 250, 1.0), Word("you", 250, 500, 1.0), Word("calling", 3000, 3500, 1.0)]
    assert count_units("thank you calling", "en") == 4
    assert speaking_rate(english, "en") == pytest.approx(4.0)


def test_phrases_split_at_pauses_and_short_ones_join():
    words = [Word("a", 0, 400, 1), Word("b", 400, 1400, 1), Word("c", 1800, 3000, 1), Word("d", 3100, 3300, 1)]
    phrases = split_phrases(words, pause_ms=250, min_ms=1200, max_ms=5000)
    assert [[w.text for w in p] for p in phrases] == [["a", "b"], ["c", "d"]]


def test_baseline_is_robust_and_z_scores_do_not_depend_on_gain():
    rng = np.random.default_rng(1)
    parts = [voice(150 + 5 * i, 1.0, level=0.1) + rng.normal(0, 0.002, SR) for i in range(6)]
    parts.append(voice(200.0, 1.0, level=0.4))  # one loud, high outlier turn
    y = np.concatenate(parts).astype(np.float32)
    turns = [(i, Turn("S0", "customer", i * 1000, (i + 1) * 1000, "x", (Word("x", i * 1000, (i + 1) * 1000, 1.0),)))
             for i in range(7)]
    options = load_config().prosody
    results = [speaker_prosody(frames_of(y * gain), turns, [], language="en", options=options)
               for gain in (1.0, 10 ** (-12 / 20), 10 ** (6 / 20))]
    base = results[0]
    assert base.turns[-1].loudness_rel_db == pytest.approx(12.0, abs=1.0)
    assert base.turns[-1].z["loudness_db"] > 3
    assert abs(base.turns[0].z["loudness_db"]) < 1.5
    for other in results[1:]:
        for a, b in zip(base.turns, other.turns):
            assert a.loudness_rel_db == pytest.approx(b.loudness_rel_db, abs=0.2)
            assert a.f0_rel_st == pytest.approx(b.f0_rel_st, abs=0.1)
            for key in ("alpha_db", "tilt_db_oct", "periodicity"):
                assert a.z[key] == pytest.approx(b.z[key], abs=0.2)


def test_relative_z_uses_the_floor_when_the_baseline_does_not_vary():
    floors = load_config().prosody.baseline_floor
    same = {"f0_st": 80.0, "loudness_db": -20.0, "alpha_db": -10.0, "tilt_db_oct": -8.0, "periodicity": 0.8,
            "rate": 5.0}
    baseline = make_baseline([same] * 5, floors)
    z = relative_z({**same, "loudness_db": -17.0}, baseline)
    assert z["loudness_db"] == pytest.approx(3.0 / floors["loudness_db"])
    assert z["f0_st"] == 0.0


def test_measure_reports_range_in_semitones():
    track = np.linspace(100.0, 200.0, SR)
    f = frames_of(voice(track, 1.0))
    m = measure(f, np.ones(len(f.t_ms), bool), [], "en")
    assert 8.0 < m["f0_range_st"] < 12.0  # p10..p90 of an octave glide: 0.8 of 12 st


def test_processes_starting_together_leave_numba_a_usable_cache(tmp_path):
    # batch workers start at once on a fresh install; numba's cache must not end up mixed (numba/numba#10128),
    # or every later process segfaults in librosa.yin
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    script = f"from pathlib import Path; from audioqa.models import warm_up_librosa; " \
             f"warm_up_librosa(Path({str(tmp_path / 'compile.lock')!r}))"
    starting_together = [subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)
                         for _ in range(3)]
    assert [p.wait(timeout=600) for p in starting_together] == [0, 0, 0]
    after = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=600)
    assert after.returncode == 0, after.stderr[-2000:]


def test_an_unwritable_lock_file_only_costs_the_lock(tmp_path):
    from audioqa.models import warm_up_librosa

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    warm_up_librosa(blocker / "compile.lock")  # its parent is a file: no lock, but the warm-up still runs


def test_voiced_speech_the_recogniser_gave_no_words_is_measured_where_the_speaker_talks_alone():
    y = np.concatenate([voice(150.0, 2.0), np.zeros(SR), voice(180.0, 2.0, level=0.4), np.zeros(SR)])
    turns = [(0, Turn("ch1", "customer", 0, 2000, "hello there", (Word("hello", 0, 1000, 1.0), Word("there", 1000, 2000, 1.0))))]
    options = load_config().prosody
    own = speaker_prosody(frames_of(y), turns, [], language="en", options=options, alone=[(0, 6000)])
    unheard = [p for p in own.phrases if not p.transcribed]
    assert len(unheard) == 1 and unheard[0].turn == 0
    assert unheard[0].begin_ms == pytest.approx(3000, abs=50) and unheard[0].end_ms == pytest.approx(5000, abs=50)
    assert unheard[0].f0_median_hz == pytest.approx(180, rel=0.03)
    elsewhere = speaker_prosody(frames_of(y), turns, [], language="en", options=options, alone=[(0, 2500)])
    assert all(p.transcribed for p in elsewhere.phrases)  # where the diarisation hears someone else, or no one


def test_noise_without_words_is_not_taken_for_untranscribed_speech():
    rng = np.random.default_rng(1)
    y = np.concatenate([voice(150.0, 2.0), np.zeros(SR), rng.normal(0, 0.1, 2 * SR)])
    turns = [(0, Turn("ch1", "customer", 0, 2000, "hello there", (Word("hello", 0, 1000, 1.0), Word("there", 1000, 2000, 1.0))))]
    own = speaker_prosody(frames_of(y), turns, [], language="en", options=load_config().prosody, alone=[(0, 5000)])
    assert all(p.transcribed for p in own.phrases)
