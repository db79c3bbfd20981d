"""Accuracy against labelled data: agitation (ROC AUC), rule packs (precision, recall), diarisation (DER)
and speech recognition (WER, CER).

``audioqa eval agitation MANIFEST.tsv``: each clip is scored as one turn against a baseline made from the
same speaker's *other* clips, whatever their labels, so no label leaks into the baseline.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE_HZ, decode_audio
from ..config import Config
from ..detectors import acoustic_arousal, agitation_score
from ..errors import AudioQAError
from ..prosody import frame_features, make_baseline, measure, relative_z
from ..records import SegmentProsody, Word


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
        samples = samples * 10 ** ((-26.0 - float(np.median(frames.loudness_db[frames.active]))) / 20)
        frames = frames_of(samples)
    active = frames.t_ms[frames.active]
    words = [Word(text, int(active[0]), int(active[-1]) + p.hop_ms, 1.0)] if len(active) and text else []
    return measure(frames, np.ones(len(frames.t_ms), bool), words, language)


def clip_score(clip: dict[str, Any], others: list[dict[str, Any]], config: Config) -> float:
    """The detector's acoustic agitation score (0-1) of a clip against a baseline from ``others``."""
    baseline = make_baseline(others, config.prosody.baseline_floor)
    segment = SegmentProsody(turn=0, begin_ms=0, end_ms=clip["speech_ms"], speech_ms=clip["speech_ms"],
                             f0_median_hz=None, f0_rel_st=None, f0_range_st=None, loudness_db=None,
                             loudness_rel_db=None, rate=None, rate_rel=None, z=relative_z(clip, baseline))
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
        clips.append(measure_clip(root / row["path"], row.get("transcript", ""), language=language, config=config,
                                  gain_normalize=gain_normalize))
    speakers = [row.get("actor") or row.get("speaker", "") for row in rows]
    scores = [clip_score(clip, [c for j, c in enumerate(clips) if speakers[j] == speakers[i] and j != i], config)
              for i, clip in enumerate(clips)]
    emotions = [row["emotion"].strip().lower() for row in rows]
    by = {e: [s for s, emotion in zip(scores, emotions) if emotion == e] for e in ("angry", "neutral", "happy")}
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


def _text_only(condition: Any) -> bool:
    """A condition decided by one utterance's words alone (no order, proximity or events)."""
    kind, body = next(iter(condition.items()))
    if kind == "said":
        return True
    if kind in ("all", "any"):
        return all(_text_only(c) for c in body)
    return kind == "not" and _text_only(body)


def evaluate_rules_on_utterances(utterances: str | Path, packs: dict[str, Any]) -> dict[str, Any]:
    """Precision and recall of the packs' text rules on labelled utterances.

    The TSV has ``lang``, ``role``, ``text`` and ``expected`` (comma-separated rule ids that should fire).
    A rule fires when its condition holds on the utterance alone (its ``when`` is not asked); only rules
    decided by text alone are scored. Counts are over (utterance, rule) pairs, per language and overall.
    """
    from ..rules import evaluate, example_view

    with open(utterances, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    counts: dict[str, dict[str, int]] = {}
    errors = []
    for row in rows:
        pack = packs[row["lang"]]
        expected = {x.strip() for x in (row.get("expected") or "").split(",") if x.strip()}
        view = example_view([f"{row['role']}: {row['text']}"])
        fired = {r.id for r in pack.rules if _text_only(r.condition) and evaluate(r.condition, view)[0]}
        for lang in (row["lang"], "all"):
            c = counts.setdefault(lang, {"tp": 0, "fp": 0, "fn": 0, "utterances": 0})
            c["tp"] += len(fired & expected)
            c["fp"] += len(fired - expected)
            c["fn"] += len(expected - fired)
            c["utterances"] += 1
        if fired != expected:
            errors.append({"lang": row["lang"], "text": row["text"], "expected": sorted(expected),
                           "fired": sorted(fired)})
    for c in counts.values():
        c["precision"] = round(c["tp"] / (c["tp"] + c["fp"]), 3) if c["tp"] + c["fp"] else 1.0
        c["recall"] = round(c["tp"] / (c["tp"] + c["fn"]), 3) if c["tp"] + c["fn"] else 1.0
    return {"by_language": counts, "errors": errors}


def _rttm_for(audio: Path, reference: str) -> Path | None:
    """The reference RTTM named in a manifest's ``reference`` text, next to the audio (else any *.rttm there)."""
    for token in reference.replace("+", " ").split():
        if token.endswith(".rttm") and (audio.parent / token).is_file():
            return audio.parent / token
    same_stem = audio.with_suffix(".rttm")
    return same_stem if same_stem.is_file() else next(iter(sorted(audio.parent.glob("*.rttm"))), None)


def read_rttm(path: str | Path):
    """A reference RTTM file as a ``pyannote.core.Annotation`` (SPEAKER lines; times in seconds)."""
    from pyannote.core import Annotation, Segment

    reference = Annotation()
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            reference[Segment(float(fields[3]), float(fields[3]) + float(fields[4]))] = fields[7]
    return reference


def evaluate_diarization(manifest: str | Path, config: Config, pipeline: Any) -> list[dict[str, Any]]:
    """DER of the mono path (decoded and mixed down as audioqa does) at collars 0 and 0.25 s.

    The speaker count comes from the manifest's ``n_speakers`` column when it has one (an oracle count),
    otherwise from the configuration (two by default).
    """
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    from ..diarization import diarise

    root = Path(manifest).parent
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    results = []
    for row in rows:
        audio_path = root / row["path"]
        rttm = _rttm_for(audio_path, row.get("reference", ""))
        if rttm is None:
            continue
        reference = read_rttm(rttm)
        n = row.get("n_speakers", "").strip()
        options = config.diarization.model_copy(update={"num_speakers": int(n)}) if n.isdigit() else config.diarization
        audio = decode_audio(audio_path)
        segments = diarise(pipeline, audio.samples.mean(axis=0), options, exclusive=False)
        hypothesis = Annotation()
        for s in segments:
            hypothesis[Segment(s.begin_ms / 1000, s.end_ms / 1000)] = s.speaker
        results.append({"path": row["path"], "duration_s": round(audio.duration_ms / 1000, 1),
                        "speakers": options.num_speakers,
                        "der_collar_0": round(float(DiarizationErrorRate(collar=0.0)(reference, hypothesis)), 4),
                        "der_collar_0.25": round(float(DiarizationErrorRate(collar=0.25)(reference, hypothesis)), 4)})
    return results


def evaluate_asr(manifest: str | Path, config: Config, whisper: Any) -> list[dict[str, Any]]:
    """Word error rate (English) or character error rate (Chinese, after normalisation) per clip."""
    from ..asr import transcribe
    from rapidfuzz.distance import Levenshtein

    from ..text import normalise

    root = Path(manifest).parent
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    results = []
    for row in rows:
        if not row.get("transcript"):
            continue
        language = "zh" if row.get("language", "").startswith("zh") else "en"
        audio = decode_audio(root / row["path"])
        words, _ = transcribe(whisper, audio.samples.mean(axis=0), language=language, options=config.asr)
        hypothesis = normalise(" ".join(w.text for w in words))  # Chinese numerals and digits compare equal
        reference = normalise(row["transcript"])
        if language == "zh":
            ref, hyp, unit = reference.replace(" ", ""), hypothesis.replace(" ", ""), "cer"
        else:
            ref, hyp, unit = reference.split(), hypothesis.split(), "wer"
        errors = Levenshtein.distance(ref, hyp)  # over characters (CER) or word lists (WER)
        results.append({"path": row["path"], "metric": unit, "errors": errors,
                        "reference_units": len(ref), "error_rate": round(errors / max(1, len(ref)), 4),
                         "hypothesis": hypothesis})
    return results
