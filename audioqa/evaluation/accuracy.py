"""Accuracy against labelled data: rule packs (precision, recall), diarisation (DER) and speech
recognition (WER, CER). Agitation has its own module, :mod:`audioqa.evaluation.agitation`."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


from ..audio import decode_audio
from ..config import Config


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
    decided by text alone are scored. Counts are over (utterance, rule) pairs, per language and overall, and
    per rule ("zh forbidden.no").
    """
    from ..rules import evaluate, example_view

    with open(utterances, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    counts: dict[str, dict[str, int]] = {}
    by_rule: dict[str, dict[str, int]] = {}
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
        for rule_id in fired | expected:
            r = by_rule.setdefault(f"{row['lang']} {rule_id}", {"tp": 0, "fp": 0, "fn": 0})
            r["tp" if rule_id in fired & expected else "fp" if rule_id in fired else "fn"] += 1
        if fired != expected:
            errors.append({"lang": row["lang"], "text": row["text"], "expected": sorted(expected),
                           "fired": sorted(fired)})
    for c in [*counts.values(), *by_rule.values()]:
        c["precision"] = round(c["tp"] / (c["tp"] + c["fp"]), 3) if c["tp"] + c["fp"] else 1.0
        c["recall"] = round(c["tp"] / (c["tp"] + c["fn"]), 3) if c["tp"] + c["fn"] else 1.0
    return {"by_language": counts, "by_rule": dict(sorted(by_rule.items())), "errors": errors}


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
        segments = diarise(pipeline, audio.samples.mean(axis=0), options)[1]
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
