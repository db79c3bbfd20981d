"""How right audioqa is on the site's own calls, measured from its reviewers' verdicts.

The latest verdict on each finding counts, whoever gave it.
- Event types: precision = confirmed / (confirmed + rejected) over the reviewed events; the recall that
  the marked misses imply = confirmed / (confirmed + missed). It is an upper bound: reviewers mark only the
  misses they notice. Overlapping misses of one type in one call (two reviewers) count once.
- Rules: a reported failure confirmed is a true finding and rejected a false alarm; a reported pass (or
  n/a) rejected is a missed failure, confirmed a true pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from .reviews import CONFIRM, EVENT, MISSED, REJECT, RULE, Review, latest

_COUNTS = ("reviewed", "confirmed", "rejected", "missed")


def week(created_at: str) -> str:
    """The ISO week of a review's time, e.g. ``2026-W49``."""
    year, number, _ = datetime.fromisoformat(created_at).isocalendar()
    return f"{year}-W{number:02d}"


def _merged_misses(misses: Iterable[Review]) -> dict[tuple[str, str], int]:
    """(call, event type) → distinct missed events, overlapping marks counted once."""
    spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for r in misses:
        spans.setdefault((r.call_id, r.subject), []).append((r.begin_ms, r.end_ms))
    counts = {}
    for key, found in spans.items():
        n, end = 0, -1
        for begin_ms, end_ms in sorted(found):
            if begin_ms >= end:
                n += 1
            end = max(end, end_ms)
        counts[key] = n
    return counts


def tally(items: Iterable[Review]) -> list[dict[str, Any]]:
    """One row per event type and per rule reviewed: counts, precision and implied recall (None when
    undefined). Rows are sorted by scope (event, then rule) and name."""
    reviews = sorted(items, key=lambda r: r.created_at)  # the latest verdict wins
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(scope: str, name: str) -> dict[str, Any]:
        return rows.setdefault((scope, name), {"scope": scope, "name": name, **dict.fromkeys(_COUNTS, 0)})

    for r in latest(x for x in reviews if x.kind == EVENT):
        counts = row("event", r.subject)
        counts["reviewed"] += 1
        counts["confirmed" if r.verdict == CONFIRM else "rejected"] += 1
    for (_, event_type), n in _merged_misses(x for x in reviews if x.kind == MISSED).items():
        row("event", event_type)["missed"] += n
    for r in latest(x for x in reviews if x.kind == RULE):
        counts = row("rule", r.subject)
        counts["reviewed"] += 1
        if r.reported == "fail":
            counts["confirmed" if r.verdict == CONFIRM else "rejected"] += 1
        elif r.verdict == REJECT:
            counts["missed"] += 1
    out = []
    for key in sorted(rows):
        counts = rows[key]
        found, false, missed = counts["confirmed"], counts["rejected"], counts["missed"]
        out.append({**counts, "precision": round(found / (found + false), 3) if found + false else None,
                    "recall": round(found / (found + missed), 3) if found + missed else None})
    return out


def review_accuracy(reviews: Sequence[Review]) -> dict[str, list[dict[str, Any]]]:
    """Precision and implied recall per event type and per rule, over all the reviews and week by week
    (the week a verdict was given)."""
    weeks: dict[str, list[Review]] = {}
    for r in reviews:
        weeks.setdefault(week(r.created_at), []).append(r)
    by_week = [{"week": w, **row} for w in sorted(weeks) for row in tally(weeks[w])]
    return {"overall": tally(reviews), "by_week": by_week}
