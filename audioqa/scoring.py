"""The scorecard: rule results weighed into a 0-100 total, fatal items, and flags for a supervisor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .records import CUSTOMER, Event, RuleResult


def unresolved_agitation(events: Sequence[Event], duration_ms: int, *, tail_ms: int = 30000) -> bool:
    """The customer is still agitated at the end: an agitation event reaching into the last ``tail_ms``."""
    return any(e.type == "customer_agitation" and e.role == CUSTOMER and e.end_ms >= duration_ms - tail_ms
               for e in events)


def score_call(results: Sequence[RuleResult], events: Sequence[Event], duration_ms: int, *,
               pass_mark: float) -> dict[str, Any]:
    """Weigh the applicable rules into a scorecard.

    Returns:
        ``{total (0-100), passed, fatal, pass_mark, by_category: {category: {score, earned, possible,
        failed: [rule ids]}}, flags: [...]}``. A failed fatal rule fails the call whatever the total.
    """
    applicable = [r for r in results if r.applicable]
    possible = sum(r.weight for r in applicable)
    earned = sum(r.weight for r in applicable if r.passed)
    total = round(100 * earned / possible, 1) if possible else 100.0
    fatal = any(r.severity == "fatal" and not r.passed for r in applicable)
    by_category: dict[str, dict[str, Any]] = {}
    for r in applicable:
        c = by_category.setdefault(r.category, {"earned": 0.0, "possible": 0.0, "failed": []})
        c["possible"] += r.weight
        c["earned"] += r.weight if r.passed else 0.0
        if not r.passed:
            c["failed"].append(r.id)
    for c in by_category.values():
        c["score"] = round(100 * c["earned"] / c["possible"], 1) if c["possible"] else 100.0
    flags = sorted({r.flag for r in applicable if r.flag and not r.passed})
    if unresolved_agitation(events, duration_ms):
        flags.append("unresolved_agitation")
    return {"total": total, "passed": total >= pass_mark and not fatal, "fatal": fatal, "pass_mark": pass_mark,
            "by_category": by_category, "flags": flags}
