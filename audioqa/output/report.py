"""Writing a call report: JSON (the full record), SRT (subtitles with roles) and RTTM (who spoke when),
each atomically; and the one-line summary of a call that the CLI prints."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..records import EVENT_TYPES, CallReport
from .files import write_atomic

EVENT_LABELS = {"customer_agitation": "agitation", "agent_freeze": "freeze",
                "agent_counter_escalation": "counter-escalation", "dry_appeasement": "dry appeasement",
                "monotone_agent": "monotone"}
assert set(EVENT_LABELS) == set(EVENT_TYPES)


def report_json(data: dict[str, Any]) -> str:
    """The text of a ``<call_id>.json`` report from its JSON form."""
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def to_json(report: CallReport) -> str:
    return report_json(report.to_dict())


def write_report_data(data: dict[str, Any], path: Path) -> None:
    """Write a report in its JSON form (a stored report, re-scored) to ``path``, atomically."""
    write_atomic(path, report_json(data))


def _srt_time(ms: int) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def to_srt(report: CallReport) -> str:
    blocks = [f"{i}\n{_srt_time(t.begin_ms)} --> {_srt_time(t.end_ms)}\n[{t.role}] {t.text}\n"
              for i, t in enumerate(report.turns, 1)]
    return "\n".join(blocks)


def to_rttm(report: CallReport) -> str:
    """Who spoke when, from the speech heard (each channel's voice activity, or the diarisation), not
    from the recognised words: speech the recogniser skipped still counts."""
    return "".join(f"SPEAKER {report.call_id} 1 {s.begin_ms / 1000:.3f} {(s.end_ms - s.begin_ms) / 1000:.3f} "
                   f"<NA> <NA> {s.speaker} <NA> <NA>\n" for s in report.speech)


def write_report(report: CallReport, out_dir: str | Path) -> list[Path]:
    """Write ``<call_id>.json``, ``.srt`` and ``.rttm`` into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    written = []
    for suffix, render in ((".srt", to_srt), (".rttm", to_rttm), (".json", to_json)):  # JSON last: it marks "done"
        path = out_dir / f"{report.call_id}{suffix}"
        write_atomic(path, render(report))
        written.append(path)
    return written


def summary_row(report: CallReport) -> dict[str, str]:
    """One line of the CLI's summary table: the QA verdict first (score, result, flags, events), then the
    conversation metrics and the real-time factor."""
    c, score = report.conversation, report.score
    audio_ms = max(report.source.duration_ms, 1)
    result = ("—" if score is None else "unscorable" if not score.scorable else "FATAL" if score.fatal
              else "pass" if score.passed else "fail")
    events = Counter(e.type for e in report.events)
    return {
        "call": report.call_id,
        "lang": report.language,
        "layout": report.options.layout,
        "s": f"{report.source.duration_ms / 1000:.1f}",
        "score": "—" if score is None else f"{score.total:.1f}",
        "result": result,
        "flags": ", ".join(score.flags) if score and score.flags else "—",
        "events": ", ".join(f"{EVENT_LABELS[t]} {events[t]}" for t in EVENT_TYPES if events[t]) or "—",
        "talk s agent/cust.": f"{c.talk_time_ms.get('agent', 0) / 1000:.1f}/{c.talk_time_ms.get('customer', 0) / 1000:.1f}",
        "interr.": str(len(c.interruptions)),
        "non-talk s": f"{c.non_talk.total_ms / 1000:.1f}",
        "max latency s": f"{(c.response_latency_ms.max or 0) / 1000:.1f}",
        "RTF": f"{sum(report.timings_ms.values()) / audio_ms:.2f}",
    }
