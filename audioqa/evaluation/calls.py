"""Whole calls against labelled agitation spans: the detectors as the product runs them.

``audioqa eval calls MANIFEST.tsv`` analyses every recording (decode, speakers, ASR, prosody, detectors)
and compares its ``customer_agitation`` events with the customer's labelled agitated spans. Columns:
``path``, ``agitated_ms`` (``begin-end`` spans in ms, ``;``-separated, empty for a calm customer),
optionally ``layout`` (figures per layout), ``from_start`` (1 when the customer is agitated from their
first word) and ``agent_calm`` (default 1: any counter-escalation on that agent is a false alarm).
``tools/make_dev_calls.py`` makes such a set from emotion corpora.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import AudioQAError
from ..models import Models
from ..pipeline import decode_and_analyze
from ..records import AGENT_COUNTER_ESCALATION, CUSTOMER_AGITATION, CallReport

Span = tuple[int, int]


def parse_spans(text: str) -> list[Span]:
    """``"1000-2500;4000-5000"`` → [(1000, 2500), (4000, 5000)] (ms)."""
    spans = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        begin, _, end = part.partition("-")
        try:
            spans.append((int(begin), int(end)))
        except ValueError:
            raise AudioQAError(f"agitated_ms: {part!r} is not begin-end in ms") from None
    return spans


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score_call(report: CallReport, spans: Sequence[Span], *, agent_calm: bool = True) -> dict[str, Any]:
    """One call's events against its labelled spans: spans found, agitation events outside every span
    (false alarms), and counter-escalation events on an agent labelled calm."""
    agitation = [(e.begin_ms, e.end_ms) for e in report.events if e.type == CUSTOMER_AGITATION]
    counter = [e for e in report.events if e.type == AGENT_COUNTER_ESCALATION]
    return {
        "spans": len(spans),
        "spans_found": sum(any(_overlaps(s, e) for e in agitation) for s in spans),
        "false_alarms": sum(not any(_overlaps(e, s) for s in spans) for e in agitation),
        "counter_escalation_on_calm_agent": len(counter) if agent_calm else 0,
    }


def summarise(calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Span recall, share of calls with a false alarm, customers agitated from the start found, and
    calls with counter-escalation flagged on a calm agent."""
    spans = sum(c["spans"] for c in calls)
    from_start = [c for c in calls if c["from_start"]]
    return {
        "calls": len(calls),
        "span_recall": round(sum(c["spans_found"] for c in calls) / spans, 3) if spans else None,
        "calls_with_false_alarm": round(sum(c["false_alarms"] > 0 for c in calls) / len(calls), 3),
        "from_start_found": round(sum(c["spans_found"] > 0 for c in from_start) / len(from_start), 3)
        if from_start else None,
        "calm_agent_counter_escalation_calls": sum(c["counter_escalation_on_calm_agent"] > 0 for c in calls),
    }


def read_calls(manifest: str | Path) -> list[dict[str, Any]]:
    """The manifest's rows, each with its spans parsed (``spans``); checked before any call is analysed."""
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows or not {"path", "agitated_ms"} <= set(rows[0]):
        raise AudioQAError(f"{manifest}: needs columns path and agitated_ms")
    return [{**row, "spans": parse_spans(row["agitated_ms"] or "")} for row in rows]


def evaluate_calls(manifest: str | Path, models: Models, config: Config) -> dict[str, Any]:
    """Analyse every call of the manifest; figures per call, per layout and over all calls."""
    calls = []
    for row in read_calls(manifest):
        _, report = decode_and_analyze(Path(manifest).parent / row["path"], models, config)
        scored = score_call(report, row["spans"], agent_calm=row.get("agent_calm", "1") != "0")
        calls.append({"path": row["path"], "layout": row.get("layout", ""), "from_start": row.get("from_start") == "1",
                      **scored})
    layouts = sorted({c["layout"] for c in calls})
    return {"calls": calls, "by_layout": {layout: summarise([c for c in calls if c["layout"] == layout])
                                          for layout in layouts},
            "all": summarise(calls)}
