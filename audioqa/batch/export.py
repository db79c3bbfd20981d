"""Exports for QA tools: one row per call and an events table, or one row per agent and one per agent and
night (an agent's week), as CSV, Parquet or JSON lines.

Exports carry no transcript text. File paths and call ids often contain the caller's number, so PII is
masked in them too unless asked otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..errors import AudioQAError
from ..output import atomic_path, find_pii
from ..records import EVENT_TYPES, Turn, Word
from .store import DONE, Store, calls, reports


def _mask_pii(text: str | None) -> str | None:
    """The string with phone, ID and card numbers and e-mail addresses replaced by '*'."""
    if not text:
        return text
    words = tuple(Word(t, i, i + 1, 1.0) for i, t in enumerate(text.replace("_", " ").replace("/", " / ").split(" ")))
    masked = {k for r in find_pii([Turn("", "", 0, 0, text, words)]) for k in range(r.first_word, r.last_word + 1)}
    if not masked:
        return text
    out = text
    for k in sorted(masked):
        out = out.replace(words[k].text, "*" * len(words[k].text), 1)
    return out


def call_night(call: dict[str, Any]) -> str | None:
    """The date (YYYY-MM-DD) a call belongs to: from its start time (``20261127183000`` or ISO 8601) when the
    file name gave one, else the day it was analysed."""
    start = (call.get("start_time") or "").strip()
    if len(start) >= 8 and start[:8].isdigit():
        return f"{start[:4]}-{start[4:6]}-{start[6:8]}"
    try:
        return datetime.fromisoformat(start).date().isoformat()
    except ValueError:
        return (call.get("updated_at") or "")[:10] or None


def call_row(call: dict[str, Any], report: dict[str, Any], redact: bool) -> dict[str, Any]:
    conversation = report.get("conversation", {})
    score = report.get("score") or {}
    talk = conversation.get("talk_time_ms", {})
    latency = conversation.get("response_latency_ms", {})
    row = {
        "call_id": _mask_pii(call["call_id"]) if redact else call["call_id"],
        "agent_id": call.get("agent_id"),
        "queue": call.get("queue"),
        "start_time": call.get("start_time"),
        "path": _mask_pii(call["path"]) if redact else call["path"],
        "night": call_night(call),
        "duration_s": round(report["source"]["duration_ms"] / 1000, 1),
        "language": report.get("language"),
        "layout": report.get("options", {}).get("layout"),
        "score": score.get("total"),
        "passed": score.get("passed"),
        "scorable": score.get("scorable", True) if score else None,
        "fatal": score.get("fatal"),
        "flags": ",".join(score.get("flags", [])),
        "agent_talk_s": round(talk.get("agent", 0) / 1000, 1),
        "customer_talk_s": round(talk.get("customer", 0) / 1000, 1),
        "non_talk_s": round(conversation.get("non_talk", {}).get("total_ms", 0) / 1000, 1),
        "interruptions_by_agent": sum(1 for i in conversation.get("interruptions", [])
                                      if i["interrupter_role"] == "agent"),
        "interruptions_by_customer": sum(1 for i in conversation.get("interruptions", [])
                                         if i["interrupter_role"] == "customer"),
        "max_response_latency_s": round((latency.get("max") or 0) / 1000, 1),
        "dead_air_count": latency.get("dead_air_count", 0),
        "agitation_score": (report.get("agitation") or {}).get("score"),
        "customer_kind": (report.get("customer_kind") or {}).get("kind"),
    }
    for event_type in EVENT_TYPES:
        row[f"events_{event_type}"] = sum(1 for e in report.get("events", []) if e["type"] == event_type)
    for rule in report.get("rules", []):
        row[f"rule_{rule['id']}"] = None if not rule["applicable"] else bool(rule["passed"])
    return row


def collect(store: Store, *, since: datetime | None = None, redact: bool = True) -> tuple[list[dict], list[dict]]:
    """(one row per done call, one row per event) from the store."""
    query = sa.select(calls, reports.c.report).join(reports, reports.c.call_id == calls.c.call_id).where(
        calls.c.status == DONE).order_by(calls.c.call_id)
    rows, event_rows = [], []
    with store.engine.connect() as c:
        for record in c.execute(query).mappings():
            call = dict(record)
            if since and call.get("start_time") and call["start_time"] < since.strftime("%Y%m%d%H%M%S"):
                continue
            report = json.loads(call.pop("report"))
            row = call_row(call, report, redact)
            rows.append(row)
            for e in report.get("events", []):
                event_rows.append({"call_id": row["call_id"], "agent_id": call.get("agent_id"), "type": e["type"],
                                   "role": e["role"], "begin_ms": e["begin_ms"], "end_ms": e["end_ms"],
                                   "score": e["score"]})
    return rows, event_rows


def _aggregate(own: list[dict[str, Any]]) -> dict[str, Any]:
    """Calls, hours, mean score, pass rate, fatal calls, mean agitation and event counts over some calls."""
    scores = [r["score"] for r in own if r["score"] is not None]
    agg = {"calls": len(own), "hours": round(sum(r["duration_s"] for r in own) / 3600, 3),
           "mean_score": round(sum(scores) / len(scores), 1) if scores else None,
           "pass_rate": round(sum(bool(r["passed"]) for r in own) / len(own), 3),
           "fatal_calls": sum(bool(r["fatal"]) for r in own),
           "mean_agitation": round(sum(r["agitation_score"] or 0 for r in own) / len(own), 3)}
    for event_type in EVENT_TYPES:
        agg[f"events_{event_type}"] = sum(r[f"events_{event_type}"] for r in own)
    return agg


def _grouped(rows: list[dict[str, Any]], *keys: str) -> dict[tuple, list[dict[str, Any]]]:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) or "unknown" for k in keys), []).append(row)
    return dict(sorted(groups.items()))


def score_trend_per_day(nights: list[dict[str, Any]]) -> float | None:
    """The least-squares slope of an agent's nightly mean score, in points per day; None under two nights."""
    points = [(date.fromisoformat(n["night"]).toordinal(), n["mean_score"]) for n in nights
              if n["mean_score"] is not None and n["night"] != "unknown"]
    if len({x for x, _ in points}) < 2:
        return None
    mean_x, mean_y = sum(x for x, _ in points) / len(points), sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return round(slope, 2)


def by_agent_night(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per agent per night: an agent's week, night by night."""
    return [{"agent_id": agent, "night": night, **_aggregate(own)}
            for (agent, night), own in _grouped(rows, "agent_id", "night").items()]


def by_agent(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-agent aggregates over the exported calls, with the nights they span and the score's trend."""
    nights = by_agent_night(rows)
    out = []
    for (agent,), own in _grouped(rows, "agent_id").items():
        mine = [n for n in nights if n["agent_id"] == agent]
        out.append({"agent_id": agent, **_aggregate(own), "nights": len(mine), "first_night": mine[0]["night"],
                    "last_night": mine[-1]["night"], "score_trend_per_day": score_trend_per_day(mine)})
    return out


EVENT_COLUMNS = ("call_id", "agent_id", "type", "role", "begin_ms", "end_ms", "score")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe (as OWASP advises
    against CSV injection); other values pass unchanged."""
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def write_table(rows: list[dict[str, Any]], path: Path, fmt: str, columns: Sequence[str] | None = None) -> None:
    """Write rows atomically (temporary file, then rename)."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(columns) if columns and not rows else None)
    if fmt not in ("csv", "parquet", "jsonl"):
        raise AudioQAError(f"unknown format {fmt!r}: csv, parquet or jsonl")
    with atomic_path(path) as tmp:
        if fmt == "csv":
            frame.map(neutralise_formulas).to_csv(tmp, index=False)
        elif fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)


def export(store: Store, out: Path, *, fmt: str, since: datetime | None = None, by: str = "call",
           redact: bool = True) -> tuple[Path, Path, int]:
    """Write the export and its companion table beside it: per call, the events (``NAME.events.EXT``);
    per agent, each agent's nights (``NAME.nights.EXT``). Returns (main file, companion file, rows written)."""
    rows, event_rows = collect(store, since=since, redact=redact)
    if by == "agent":
        companion = out.with_name(f"{out.stem}.nights{out.suffix}")
        write_table(by_agent_night(rows), companion, fmt)
        rows = by_agent(rows)
    else:
        companion = out.with_name(f"{out.stem}.events{out.suffix}")
        write_table(event_rows, companion, fmt, columns=EVENT_COLUMNS)
    write_table(rows, out, fmt)
    return out, companion, len(rows)
