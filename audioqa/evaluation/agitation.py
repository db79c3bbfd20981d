"""Agitation on labelled emotion corpora, one corpus at a time and across corpora.

``audioqa eval agitation A/MANIFEST.tsv B/MANIFEST.tsv …``: each clip is scored as one turn against a
baseline made from the same speaker's *other* clips, whatever their labels, so no label leaks into the
baseline. Per corpus: the ROC AUC of angry against neutral clips, and the share of neutral, calm, happy
and sad clips flagged at the threshold that finds 90 % of angry clips. Across corpora: the worst case
of each figure, because a detector is only as good as the corpus it does worst on.

A learned weighting of the detector's features is judged by leaving one corpus out (``loco``): a
logistic regression fitted on the other corpora scores the corpus it never saw.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE_HZ, decode_audio
from ..config import Config
from ..detectors import acoustic_arousal, agitation_score
from ..errors import AudioQAError
from ..prosody import FEATURES, frame_features, make_baseline, measure, relative_z
from ..records import SegmentProsody, Word

FLAGGED = ("neutral", "calm", "happy", "sad")  # emotions that should not be flagged as agitation
_SPEECH_LEVEL_DBFS = -26.0


@dataclass(frozen=True)
class Corpus:
    """The clips of one manifest, measured: ``z`` holds each clip's feature z-scores (shape (n_clips,
    len(FEATURES)), 0 where a feature is missing) against the same speaker's other clips."""

    name: str
    emotions: list[str]
    scores: np.ndarray
    z: np.ndarray


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


def measure_clip(path: Path, text: str, *, language: str, config: Config, gain_normalize: bool) -> dict[str, Any]:
    """Prosody features of one clip taken as a single turn of speech (``prosody.measure``)."""
    samples = decode_audio(path, silent_peak_dbfs=config.audio.silent_peak_dbfs).samples.mean(axis=0)
    p = config.prosody

    def frames_of(y: np.ndarray):
        return frame_features(y, sr=SAMPLE_RATE_HZ, frame_ms=p.frame_ms, hop_ms=p.hop_ms, f0_min_hz=p.f0_min_hz,
                              f0_max_hz=p.f0_max_hz)

    frames = frames_of(samples)
    if gain_normalize:  # the same speech level for every clip: absolute loudness can tell nothing
        samples = samples * 10 ** ((_SPEECH_LEVEL_DBFS - float(np.median(frames.loudness_db[frames.active]))) / 20)
        frames = frames_of(samples)
    active = frames.t_ms[frames.active]
    words = [Word(text, int(active[0]), int(active[-1]) + p.hop_ms, 1.0)] if len(active) and text else []
    return measure(frames, np.ones(len(frames.t_ms), bool), words, language)


def clip_segment(clip: dict[str, Any], others: list[dict[str, Any]], config: Config) -> SegmentProsody:
    """A clip as the detector sees a phrase: its z-scores against a baseline made from ``others``."""
    baseline = make_baseline(others, config.prosody.baseline_floor)
    return SegmentProsody(turn=0, begin_ms=0, end_ms=clip["speech_ms"], speech_ms=clip["speech_ms"],
                          f0_median_hz=None, f0_rel_st=None, f0_range_st=None, loudness_db=None,
                          loudness_rel_db=None, rate=None, rate_rel=None, z=relative_z(clip, baseline))


def clip_score(segment: SegmentProsody, config: Config) -> float:
    """The detector's acoustic agitation score (0-1) of a clip seen as a phrase (:func:`clip_segment`)."""
    units, _ = acoustic_arousal(segment, config.detectors)
    return agitation_score(units, config.detectors)


def measure_corpus(manifest: str | Path, config: Config, *, gain_normalize: bool) -> Corpus:
    """Measure and score every clip of a manifest; the corpus is named after the manifest's folder."""
    rows = read_manifest(manifest)
    root = Path(manifest).parent
    clips = [measure_clip(root / row["path"], row.get("transcript", ""), config=config, gain_normalize=gain_normalize,
                          language="zh" if row.get("language", "en").startswith("zh") else "en") for row in rows]
    speakers = [row.get("actor") or row.get("speaker", "") for row in rows]
    segments = [clip_segment(clip, [c for j, c in enumerate(clips) if speakers[j] == speakers[i] and j != i], config)
                for i, clip in enumerate(clips)]
    scores = [clip_score(s, config) for s in segments]
    z = np.array([[s.z.get(k, 0.0) for k in FEATURES] for s in segments], float).reshape(len(rows), len(FEATURES))
    return Corpus(Path(manifest).resolve().parent.name, [row["emotion"].strip().lower() for row in rows],
                  np.array(scores, float), z)


def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Probability that a positive scores above a negative (ties count half): the ROC AUC."""
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def corpus_figures(name: str, emotions: Sequence[str], scores: np.ndarray) -> dict[str, Any]:
    """AUC angry vs neutral, and the share of each other emotion flagged at 90 % angry recall."""
    by = {e: scores[[i for i, emotion in enumerate(emotions) if emotion == e]] for e in ("angry", *FLAGGED)}
    if not len(by["angry"]) or not len(by["neutral"]):
        raise AudioQAError(f"{name}: needs angry and neutral clips")
    threshold = float(np.quantile(by["angry"], 0.10))  # 90 % of angry clips score at or above it
    figures: dict[str, Any] = {"corpus": name, "auc": round(roc_auc(by["angry"], by["neutral"]), 4),
                               "n_angry": len(by["angry"]), "threshold_at_90pct_recall": round(threshold, 4)}
    for e in FLAGGED:
        figures[f"flagged_{e}"] = round(float(np.mean(by[e] >= threshold)), 4) if len(by[e]) else None
    return figures


def worst_case(per_corpus: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The lowest AUC and the highest flagged share of each emotion over the corpora."""
    worst: dict[str, Any] = {"corpus": "worst", "auc": min(c["auc"] for c in per_corpus)}
    for e in FLAGGED:
        shares = [c[f"flagged_{e}"] for c in per_corpus if c[f"flagged_{e}"] is not None]
        worst[f"flagged_{e}"] = max(shares) if shares else None
    return worst


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, iterations: int = 50) -> np.ndarray:
    """Weights (one per column, then the intercept) of an L2-regularised logistic regression, classes
    weighted to count equally; Newton's method. ``x`` has shape (n, d), ``y`` holds 0 and 1."""
    x1 = np.column_stack([x, np.ones(len(x))])
    balance = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1)) * len(y)
    penalty = np.diag([l2] * x.shape[1] + [0.0])
    w = np.zeros(x1.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-x1 @ w))
        gradient = x1.T @ (balance * (p - y)) + penalty @ w
        hessian = (x1 * (balance * p * (1 - p))[:, None]).T @ x1 + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(w)), gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def leave_one_corpus_out(corpora: Sequence[Corpus]) -> list[dict[str, Any]]:
    """Each corpus scored by a logistic regression over the detector's feature z-scores (angry against
    every other emotion) fitted on the *other* corpora only."""
    out = []
    for held_out in corpora:
        train = [c for c in corpora if c is not held_out]
        x = np.clip(np.vstack([c.z for c in train]), -6, 6)
        y = np.concatenate([[e == "angry" for e in c.emotions] for c in train]).astype(float)
        w = fit_logistic(x, y)
        scores = np.clip(held_out.z, -6, 6) @ w[:-1] + w[-1]
        out.append({**corpus_figures(held_out.name, held_out.emotions, scores),
                    "weights": {k: round(float(v), 3) for k, v in zip(FEATURES, w)}})
    return out


def evaluate_agitation(manifests: Sequence[str | Path], config: Config, *, gain_normalize: bool = False,
                       loco: bool = False) -> dict[str, Any]:
    """The detector on each corpus and its worst case; with ``loco``, the same for a learned weighting
    of its features, each corpus scored by weights fitted on the others (needs two corpora or more)."""
    if loco and len(manifests) < 2:
        raise AudioQAError("leaving one corpus out needs two manifests or more")
    corpora = [measure_corpus(m, config, gain_normalize=gain_normalize) for m in manifests]
    per_corpus = [corpus_figures(c.name, c.emotions, c.scores) for c in corpora]
    result: dict[str, Any] = {"gain_normalized": gain_normalize, "corpora": per_corpus, "worst": worst_case(per_corpus)}
    if loco:
        fitted = leave_one_corpus_out(corpora)
        result["loco"] = {"corpora": fitted, "worst": worst_case(fitted)}
    return result
