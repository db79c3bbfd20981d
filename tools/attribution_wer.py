"""Who said which word on a one-channel call: role-attributed WER and WDER against a reference report.

The reference is usually the stereo recording's report of the same call (each word's party known from
its channel); the hypothesis is the report of its mono mix.
- Plain WER compares all words in time order.
- Role-attributed WER compares each role's words with the same role's reference words, so a word put on
  the wrong party counts twice (missing on one side, inserted on the other); minus plain WER, it is what
  attribution costs.
- WDER (word diarisation error rate) is the share of words recognised alike in both whose role differs.

    python tools/attribution_wer.py REFERENCE.json HYPOTHESIS.json [REFERENCE.json HYPOTHESIS.json ...]
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rapidfuzz.distance import Levenshtein

from audioqa.text import normalise

ROLES = ("agent", "customer")


def role_words(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(word, role) pairs of a report's JSON form, in time order, normalised as the rules see them."""
    timed = sorted(((w, t["role"]) for t in report["turns"] for w in t["words"]), key=lambda x: x[0]["begin_ms"])
    return [(token, role) for w, role in timed for token in normalise(w["text"]).split()]


def attribution_wer(reference: dict[str, Any], hypothesis: dict[str, Any]) -> dict[str, float]:
    """Plain and role-attributed WER (percent), their difference (points) and WDER (percent)."""
    ref, hyp = role_words(reference), role_words(hypothesis)
    words = lambda pairs, role=None: [w for w, r in pairs if role is None or r == role]  # noqa: E731
    plain = Levenshtein.distance(words(ref), words(hyp))
    attributed = sum(Levenshtein.distance(words(ref, r), words(hyp, r)) for r in ROLES)
    matched = wrong = 0
    for op in Levenshtein.opcodes(words(ref), words(hyp)):
        if op.tag == "equal":
            for i, j in zip(range(op.src_start, op.src_end), range(op.dest_start, op.dest_end)):
                matched += 1
                wrong += ref[i][1] != hyp[j][1]
    n = max(len(ref), 1)
    return {"reference_words": len(ref), "plain_wer": round(100 * plain / n, 1),
            "attributed_wer": round(100 * attributed / n, 1),
            "difference_points": round(100 * (attributed - plain) / n, 1),
            "wder": round(100 * wrong / max(matched, 1), 1)}


if __name__ == "__main__":
    args = sys.argv[1:]
    for ref_path, hyp_path in zip(args[::2], args[1::2]):
        with open(ref_path, encoding="utf-8") as r, open(hyp_path, encoding="utf-8") as h:
            print(hyp_path, attribution_wer(json.load(r), json.load(h)))
