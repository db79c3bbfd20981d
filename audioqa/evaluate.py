"""Evaluation against labelled data: how well the agitation score tells anger from calm speech.

``audioqa eval agitation MANIFEST.tsv``: each clip is scored as one turn against a baseline made from the
same speaker's *other* clips, whatever their labels, so no label leaks into the baseline.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .audio import SAMPLE_RATE_HZ, decode_audio
from .config import Config
from .detectors import acoustic_arousal, agitation_score
from .errors import AudioQAError
from .prosody import Baseline, frame_features, semitones, speaking_rate
from .records import Word


@dataclass(frozen=True)
class ClipMeasure:
    path: str
    speaker: str
    emotion: str
    speech_ms: int
    f0_hz: float | None
    loudness_db: float | None
    hf_ratio_db: float | None
    rate: float | None


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    """Rows of a tab-separated manifest with ``path``, ``emotion`` and ``actor`` or ``speaker`` columns."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        raise AudioQAError(f"{path}: no rows")
    columns = set(rows[0])
    missing = {"path", "emotion"} - columns
    if missing or not ({"actor", "speaker"} & columns):
        raise AudioQAError(f"{path}: needs columns path, emotion and actor or speaker; missing "
                           f"{', '.join(sorted(missing)) or 'actor/speaker'}")
    return rows


def _median(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else None


def measure_clip(path: Path, text: str, *, language: str, config: Config, gain_normalize: bool) -> ClipMeasure:
    """Prosody of one clip taken as a single turn of speech."""
    samples = decode_audio(path, silent_peak_dbfs=config.audio.silent_peak_dbfs).samples.mean(axis=0)
    p = config.prosody
    frames = frame_features(samples, sr=SAMPLE_RATE_HZ, frame_ms=p.frame_ms, hop_ms=p.hop_ms,
                            f0_min_hz=p.f0_min_hz, f0_max_hz=p.f0_max_hz)
    if gain_normalize:  # the same speech level for every clip: loudness can no longer tell anything
        level = float(np.median(frames.loudness_db[frames.active]))
        samples = samples * 10 ** ((-26.0 - level) / 20)
        frames = frame_features(samples, sr=SAMPLE_RATE_HZ, frame_ms=p.frame_ms, hop_ms=p.hop_ms,
                                f0_min_hz=p.f0_min_hz, f0_max_hz=p.f0_max_hz)
    active = frames.t_ms[frames.active]
    speech = Word(text, int(active[0]), int(active[-1]) + p.hop_ms, 1.0) if len(active) else None
    return ClipMeasure(str(path), "", "", int(frames.active.sum()) * p.hop_ms, _median(frames.f0_hz[frames.active]),
                       _median(frames.loudness_db[frames.active]), _median(frames.hf_ratio_db[frames.active]),
                       speaking_rate([speech], language) if speech and text else None)


def _baseline(others: list[ClipMeasure]) -> Baseline:
    def med(values: list[float | None]) -> float | None:
        return _median(np.array([v for v in values if v is not None], float))

    return Baseline(med([c.f0_hz for c in others]), None, med([c.loudness_db for c in others]),
                    med([c.hf_ratio_db for c in others]), med([c.rate for c in others]), len(others))


def clip_score(clip: ClipMeasure, baseline: Baseline, config: Config) -> float:
    """The detector's acoustic agitation score (0-1) of a clip against its speaker's baseline."""
    from .prosody import SegmentProsody

    def sub(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a - b

    segment = SegmentProsody(
        turn=0, begin_ms=0, end_ms=clip.speech_ms, speech_ms=clip.speech_ms, f0_median_hz=clip.f0_hz,
        f0_rel_st=float(semitones(clip.f0_hz, baseline.f0_median_hz)) if clip.f0_hz and baseline.f0_median_hz else None,
        f0_range_st=None, loudness_db=clip.loudness_db, loudness_rel_db=sub(clip.loudness_db, baseline.loudness_db),
        hf_ratio_rel_db=sub(clip.hf_ratio_db, baseline.hf_ratio_db), rate=clip.rate,
        rate_rel=clip.rate / baseline.rate - 1 if clip.rate and baseline.rate else None)
    units, _ = acoustic_arousal(segment, config.detectors)
    return agitation_score(units, config.detectors)


def roc_auc(positive: list[float], negative: list[float]) -> float:
    """Probability that a positive scores above a negative (ties count half): the ROC AUC."""
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def evaluate_agitation(manifest: str | Path, config: Config, *, gain_normalize: bool = False) -> dict[str, Any]:
    """ROC AUC of angry vs neutral clips, and the share of happy clips flagged at 90 % angry recall."""
    rows = read_manifest(manifest)
    root = Path(manifest).parent
    clips = []
    for row in rows:
        language = "zh" if row.get("language", "en").startswith("zh") else "en"
        m = measure_clip(root / row["path"], row.get("transcript", ""), language=language, config=config,
                         gain_normalize=gain_normalize)
        speaker = row.get("actor") or row.get("speaker", "")
        clips.append(ClipMeasure(m.path, speaker, row["emotion"].strip().lower(), m.speech_ms, m.f0_hz,
                                 m.loudness_db, m.hf_ratio_db, m.rate))
    scores = []
    for clip in clips:
        others = [c for c in clips if c.speaker == clip.speaker and c.path != clip.path]
        scores.append(clip_score(clip, _baseline(others), config))
    by = {e: [s for s, c in zip(scores, clips) if c.emotion == e] for e in ("angry", "neutral", "happy")}
    if not by["angry"] or not by["neutral"]:
        raise AudioQAError(f"{manifest}: needs angry and neutral clips")
    threshold = float(np.quantile(by["angry"], 0.10))  # 90 % of angry clips score at or above it
    return {
        "auc": round(roc_auc(by["angry"], by["neutral"]), 4),
        "n_angry": len(by["angry"]),
        "n_neutral": len(by["neutral"]),
        "n_happy": len(by["happy"]),
        "threshold_at_90pct_recall": round(threshold, 4),
        "false_alarm_rate_happy": round(float(np.mean(np.array(by["happy"]) >= threshold)), 4) if by["happy"] else None,
        "false_alarm_rate_neutral": round(float(np.mean(np.array(by["neutral"]) >= threshold)), 4),
        "gain_normalized": gain_normalize,
    }
