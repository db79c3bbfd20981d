"""``audioqa calibrate``: fit the detector thresholds, and which rules apply, to a site's reviewed calls.

Only calls reviewed to the end count for the detectors (a reviewer said "I have reviewed the whole call"):
there every event audioqa should report is one of its events confirmed or a marked miss, and anything
else it reports is a false alarm. The detectors are re-run from each stored report (no audio, no models)
with candidate thresholds, and each threshold is chosen by the F1 of its event type on most of those
calls. A share of them, picked by a hash of the call id (the same share on every run), is held back:
a fitted value is adopted only if it does at least as well there as the current one.

A rule whose reported failures reviewers reject most of the time, on the fitted and on the held-back
calls alike, is turned off for the site (``rules.disabled``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from ..batch.store import Store, reports
from ..config import Config, DetectorOptions
from ..detectors import detect_events
from ..errors import ReviewError
from ..records import (AGENT_COUNTER_ESCALATION, AGENT_FREEZE, CUSTOMER_AGITATION, MONOTONE_AGENT, CallReport,
                       from_dict)
from .reviews import CALL, CONFIRM, EVENT, MISSED, RULE, Review, latest, overlap_ms

# The threshold fitted for each event type and the values tried, in the order they are fitted (agitation
# first: freezing and counter-escalation read which customer turns are agitated).
PARAMETERS: tuple[tuple[str, str, Sequence[float]], ...] = (
    (CUSTOMER_AGITATION, "agitation_threshold", np.round(np.arange(0.20, 0.951, 0.025), 3).tolist()),
    (AGENT_FREEZE, "freeze_after_agitation_ms", list(range(1000, 8001, 250))),
    (AGENT_FREEZE, "freeze_dead_air_ms", list(range(2000, 12001, 500))),
    (AGENT_COUNTER_ESCALATION, "escalation_threshold", np.round(np.arange(0.20, 0.951, 0.025), 3).tolist()),
    (MONOTONE_AGENT, "monotone_range_st", np.round(np.arange(1.0, 6.01, 0.25), 2).tolist()),
)


@dataclass(frozen=True)
class Fit:
    """One threshold: its current and fitted values, and precision / recall / F1 before and after."""

    event_type: str
    parameter: str
    current: float
    fitted: float | None
    adopted: bool
    why: str
    fit_before: dict[str, float | None]
    fit_after: dict[str, float | None]
    held_before: dict[str, float | None]
    held_after: dict[str, float | None]


@dataclass(frozen=True)
class RuleFit:
    rule_id: str
    disable: bool
    fit_precision: float | None
    held_precision: float | None
    fit_failures: int
    held_failures: int


@dataclass(frozen=True)
class Calibration:
    calls_fitted: int
    calls_held_back: int
    fits: tuple[Fit, ...]
    rules: tuple[RuleFit, ...]
    detectors: dict[str, float]  # the adopted values
    disabled: tuple[str, ...]  # rule ids to turn off (with those already off)


@dataclass(frozen=True)
class ReviewedCall:
    """A call reviewed to the end: its report as records, and the right events of each type (spans)."""

    call_id: str
    report: CallReport
    right: dict[str, list[tuple[int, int]]]


def held_back(call_id: str, share: float, seed: int = 0) -> bool:
    """Whether a call is in the held-back share: by a hash of its id, so the same on every run."""
    digest = hashlib.sha256(f"{seed}:{call_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < share


def reviewed_calls(store: Store, items: Sequence[Review]) -> list[ReviewedCall]:
    """The calls reviewed to the end, with their right events: confirmed events and marked misses."""
    done = sorted({r.call_id for r in items if r.kind == CALL})
    if not done:
        return []
    with store.engine.connect() as c:
        stored = dict(c.execute(sa.select(reports.c.call_id, reports.c.report).where(reports.c.call_id.in_(done))).all())
    out = []
    for call_id in done:
        if call_id not in stored:
            continue
        mine = [r for r in items if r.call_id == call_id]
        right: dict[str, list[tuple[int, int]]] = {}
        for r in latest(x for x in mine if x.kind == EVENT):  # a later reject overturns a confirmation
            if r.verdict == CONFIRM:
                right.setdefault(r.subject, []).append((r.begin_ms, r.end_ms))
        for r in mine:
            if r.kind == MISSED:
                right.setdefault(r.subject, []).append((r.begin_ms, r.end_ms))
        out.append(ReviewedCall(call_id, from_dict(CallReport, json.loads(stored[call_id])), right))
    return out


def score_events(calls: Sequence[ReviewedCall], options: DetectorOptions, event_type: str) -> dict[str, float | None]:
    """Precision, recall and F1 of one event type on reviewed calls, the detectors run with ``options``.

    A right event (confirmed or marked missed) is found when a reported event of its type overlaps it;
    a reported event that overlaps no right one is a false alarm.
    """
    found = missed = false = 0
    for call in calls:
        events, _, _ = detect_events(call.report.turns, call.report.conversation, call.report.prosody, options)
        reported = [(e.begin_ms, e.end_ms) for e in events if e.type == event_type]
        right = _distinct(call.right.get(event_type, []))
        hits = [any(overlap_ms(*r, *e) > 0 for e in reported) for r in right]
        found, missed = found + sum(hits), missed + len(hits) - sum(hits)
        false += sum(not any(overlap_ms(*e, *r) > 0 for r in right) for e in reported)
    precision = found / (found + false) if found + false else None
    recall = found / (found + missed) if found + missed else None
    f1 = 2 * found / (2 * found + false + missed) if found + false + missed else None
    return {"precision": _r(precision), "recall": _r(recall), "f1": _r(f1), "right": found + missed}


def _distinct(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans (one event confirmed and also marked missed by someone else) merged into one."""
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def fit_threshold(calls: Sequence[ReviewedCall], options: DetectorOptions, event_type: str, parameter: str,
                  values: Sequence[float]) -> tuple[float, dict[str, float | None]]:
    """The value with the best F1 for the event type (ties: the one nearest the current value)."""
    current = getattr(options, parameter)
    best: tuple[float, float, float] | None = None
    for value in values:
        f1 = score_events(calls, options.model_copy(update={parameter: value}), event_type)["f1"] or 0.0
        key = (f1, -abs(value - current), value)
        if best is None or key > best:
            best = key
    value = best[2]
    return value, score_events(calls, options.model_copy(update={parameter: value}), event_type)


def calibrate(store: Store, config: Config, items: Sequence[Review], *, holdout: float = 0.3, seed: int = 0,
              min_calls: int = 20, min_right: int = 5, min_rule_failures: int = 5) -> Calibration:
    """Fit the detector thresholds and the rules that apply to the reviews (see the module's docstring).

    Args:
        items: every review in the store (:func:`~audioqa.review.all_reviews`).
        holdout: the share of reviewed calls held back to check each fit.
        min_calls: calls reviewed to the end needed at all; fewer raise ReviewError.
        min_right: right events of a type (confirmed or missed) needed among the fitted calls to fit its
            thresholds; fewer leave them as they are.
        min_rule_failures: reported failures of a rule reviewed among the fitted calls to judge it.
    """
    calls = reviewed_calls(store, items)
    fit_calls = [c for c in calls if not held_back(c.call_id, holdout, seed)]
    held_calls = [c for c in calls if held_back(c.call_id, holdout, seed)]
    if len(calls) < min_calls or not fit_calls or not held_calls:
        raise ReviewError(f"too few reviews to calibrate: {len(calls)} call(s) reviewed to the end "
                          f"({len(fit_calls)} to fit, {len(held_calls)} held back), at least {min_calls} needed "
                          f"with some in each share; reviewers finish a call with 'I have reviewed the whole call'")
    options = config.detectors
    fits = []
    for event_type, parameter, values in PARAMETERS:
        current = getattr(options, parameter)
        before = score_events(fit_calls, options, event_type)
        held_before = score_events(held_calls, options, event_type)
        if before["right"] < min_right:
            fits.append(Fit(event_type, parameter, current, None, False,
                            f"{before['right']} right {event_type} event(s) among the fitted calls, {min_right} needed",
                            before, before, held_before, held_before))
            continue
        value, after = fit_threshold(fit_calls, options, event_type, parameter, values)
        trial = options.model_copy(update={parameter: value})
        held_after = score_events(held_calls, trial, event_type)
        if value == current:
            adopted, why = False, "the current value fits best"
        elif held_after["f1"] is None or held_before["f1"] is None:
            adopted, why = False, f"the held-back calls have no {event_type} to check it on"
        elif held_after["f1"] < held_before["f1"]:
            adopted, why = False, f"held-back F1 would fall {held_before['f1']} -> {held_after['f1']}"
        else:
            adopted, why = True, f"held-back F1 {held_before['f1']} -> {held_after['f1']}"
        if adopted:
            options = trial
        fits.append(Fit(event_type, parameter, current, value, adopted, why, before, after, held_before, held_after))
    rules = _rule_fits(items, holdout, seed, min_rule_failures)
    disabled = tuple(sorted(set(config.rules.disabled) | {r.rule_id for r in rules if r.disable}))
    adopted = {f.parameter: f.fitted for f in fits if f.adopted}
    return Calibration(len(fit_calls), len(held_calls), tuple(fits), tuple(rules), adopted, disabled)


def _rule_fits(items: Sequence[Review], holdout: float, seed: int, min_failures: int) -> list[RuleFit]:
    """Rules whose reported failures reviewers reject more often than not, on both shares, are turned off."""
    failures: dict[str, dict[bool, list[bool]]] = {}
    for r in latest(x for x in items if x.kind == RULE and x.reported == "fail"):
        failures.setdefault(r.subject, {False: [], True: []})[held_back(r.call_id, holdout, seed)].append(
            r.verdict == CONFIRM)
    out = []
    for rule_id, shares in sorted(failures.items()):
        fit, held = shares[False], shares[True]
        fit_p = sum(fit) / len(fit) if fit else None
        held_p = sum(held) / len(held) if held else None
        disable = len(fit) >= min_failures and fit_p < 0.5 and held_p is not None and held_p < 0.5
        out.append(RuleFit(rule_id, disable, _r(fit_p), _r(held_p), len(fit), len(held)))
    return out


def overlay(result: Calibration, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The configuration to pass as ``--config``: ``base`` (the site's file, if any) with the adopted values."""
    out = json.loads(json.dumps(base or {}))
    if result.detectors:
        out.setdefault("detectors", {}).update(result.detectors)
    if result.disabled:
        out.setdefault("rules", {})["disabled"] = list(result.disabled)
    return out


def overlay_text(result: Calibration, base: dict[str, Any] | None, *, when: str) -> str:
    """The overlay as YAML, headed by comments saying what was fitted, on what, and how it did."""
    import yaml

    lines = [f"# audioqa calibrate, {when}: {result.calls_fitted} reviewed calls fitted, "
             f"{result.calls_held_back} held back", "# Pass this file as --config."]
    for f in result.fits:
        change = f"{f.current} -> {f.fitted}" if f.adopted else f"kept {f.current}"
        lines.append(f"# {f.event_type} {f.parameter}: {change} ({f.why}); held-back precision "
                     f"{f.held_before['precision']} -> {f.held_after['precision']}, recall "
                     f"{f.held_before['recall']} -> {f.held_after['recall']}")
    for r in result.rules:
        if r.disable:
            lines.append(f"# rule {r.rule_id} turned off: reviewers confirmed {r.fit_precision} of its "
                         f"{r.fit_failures} failures (held back: {r.held_precision} of {r.held_failures})")
    settings = overlay(result, base)
    body = yaml.safe_dump(settings, allow_unicode=True, sort_keys=False) if settings else ""
    return "\n".join(lines) + "\n" + body
