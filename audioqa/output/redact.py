"""PII redaction: phone numbers, Chinese resident ID numbers, bank card numbers and e-mail addresses.

Digits are found whether the recogniser wrote them as digits or as Chinese numerals (一三八… / 幺 / 洞)
and across word boundaries ("138 1234 5678"). Redaction masks the covered words' letters and digits with
``*``, keeps every time, and lists what was masked (type and span) so the audio can be masked too.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..records import CallReport, RedactedSpan, RuleHit, Turn
from ..text import IndexedText, join_words
from .files import encode_audio, write_atomic

_SEP = r"[ \-]?"
_PATTERNS = (  # order matters: the first type to claim a stretch of digits keeps it
    ("cn_id", re.compile(r"(?<!\d)\d(?:" + _SEP + r"\d){16}" + _SEP + r"[\dx](?![\dx])")),
    ("bank_card", re.compile(r"(?<!\d)\d(?:" + _SEP + r"\d){15,18}(?!\d)")),
    ("phone", re.compile(r"(?<!\d)(?:8" + _SEP + r"6" + _SEP + r")?1" + _SEP + r"[3-9](?:" + _SEP + r"\d){9}(?!\d)")),
    ("phone", re.compile(r"(?<!\d)(?:\d{3,4}" + _SEP + r")?\d{3}" + _SEP + r"\d{4}(?!\d)")),
)
_EMAIL = re.compile(r"[a-z0-9._%+\-]+\s*(?:@|\bat\b)\s*[a-z0-9\-]+(?:\s*(?:\.|\bdot\b)\s*[a-z0-9\-]+)+", re.IGNORECASE)


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


@dataclasses.dataclass(frozen=True)
class Redaction:
    type: str
    turn: int
    first_word: int
    last_word: int
    begin_ms: int
    end_ms: int


def find_pii(turns: Sequence[Turn]) -> list[Redaction]:
    """Every phone number, ID number, bank card number and e-mail address in the turns."""
    found = []
    for i, t in enumerate(turns):
        if not t.words:
            continue
        index = IndexedText.from_words(t.words)  # Chinese numerals become digits here
        claimed: list[tuple[int, int]] = []
        for kind, pattern in _PATTERNS:
            for m in pattern.finditer(index.text):
                if any(m.start() < b and m.end() > a for a, b in claimed):
                    continue
                if kind == "bank_card" and not _luhn(re.sub(r"\D", "", m.group())):
                    continue
                claimed.append((m.start(), m.end()))
                first, last = index.words_in(m.start(), m.end())
                found.append(Redaction(kind, i, first, last, t.words[first].begin_ms, t.words[last].end_ms))
        starts, text = [], ""
        for w in t.words:  # e-mail needs the raw text: normalisation drops '@' and '.'
            text = f"{text} {w.text}" if text else w.text
            starts.append(len(text) - len(w.text))
        for m in _EMAIL.finditer(text):
            first = max(k for k, s in enumerate(starts) if s <= m.start())
            last = max(k for k, s in enumerate(starts) if s < m.end())
            found.append(Redaction("email", i, first, last, t.words[first].begin_ms, t.words[last].end_ms))
    return found


def _mask(text: str) -> str:
    return re.sub(r"\w", "*", text)


def redact_report(report: CallReport) -> CallReport:
    """A copy of the report with PII masked in words, turn texts and rule hits, and ``redactions`` listed."""
    pii = find_pii(report.turns)
    masked = {(r.turn, k) for r in pii for k in range(r.first_word, r.last_word + 1)}
    turns = []
    for i, t in enumerate(report.turns):
        words = tuple(dataclasses.replace(w, text=_mask(w.text)) if (i, k) in masked else w
                      for k, w in enumerate(t.words))
        turns.append(dataclasses.replace(t, words=words, text=join_words(words)) if words != t.words else t)

    def clean(hit: RuleHit) -> RuleHit:
        overlapping = any(r.turn == hit.turn and r.begin_ms < hit.end_ms and r.end_ms > hit.begin_ms for r in pii)
        return dataclasses.replace(hit, text=_mask(hit.text)) if overlapping else hit

    rules = tuple(dataclasses.replace(r, hits=tuple(clean(h) for h in r.hits)) for r in report.rules)
    spans = tuple(RedactedSpan(r.type, r.begin_ms, r.end_ms) for r in pii)
    return dataclasses.replace(report, turns=tuple(turns), rules=rules,
                               options=dataclasses.replace(report.options, redacted=True, redactions=spans))


def redact_audio(samples: np.ndarray, spans: Sequence[RedactedSpan], *, sample_rate_hz: int,
                 pad_ms: int = 100) -> np.ndarray:
    """A copy of ``samples`` (channels, n) with every span silenced on all channels, ``pad_ms`` either side."""
    out = samples.copy()
    for s in spans:
        begin = max(0, (s.begin_ms - pad_ms) * sample_rate_hz // 1000)
        end = min(out.shape[1], (s.end_ms + pad_ms) * sample_rate_hz // 1000)
        out[:, begin:end] = 0.0
    return out


def write_wav(path: Path, samples: np.ndarray, *, sample_rate_hz: int) -> None:
    """16-bit PCM WAV of (channels, n) float samples, written atomically."""
    write_atomic(path, encode_audio(samples, sample_rate_hz=sample_rate_hz, fmt="wav"))


__all__ = ["Redaction", "find_pii", "redact_audio", "redact_report", "write_wav"]
