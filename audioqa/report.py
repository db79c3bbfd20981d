"""Writing a call report: JSON (the full record), SRT (subtitles with roles) and RTTM (who spoke when).

Every file is written atomically: to a temporary file in the same directory, then renamed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import dataclasses
from typing import Any

from .records import CallReport, Event, Turn, Word


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; reports are for the whole QA team
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json(report: CallReport) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=1) + "\n"


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
    return "".join(f"SPEAKER {report.call_id} 1 {t.begin_ms / 1000:.3f} {(t.end_ms - t.begin_ms) / 1000:.3f} "
                   f"<NA> <NA> {t.speaker} <NA> <NA>\n" for t in report.turns)


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
    """One line of the CLI's summary table."""
    c = report.conversation
    audio_ms = max(report.source.duration_ms, 1)
    return {
        "call": report.call_id,
        "lang": report.language,
        "layout": report.options.get("layout", ""),
        "duration s": f"{report.source.duration_ms / 1000:.1f}",
        "turns": str(len(report.turns)),
        "agent talk s": f"{c.talk_time_ms.get('agent', 0) / 1000:.1f}",
        "customer talk s": f"{c.talk_time_ms.get('customer', 0) / 1000:.1f}",
        "interruptions": str(len(c.interruptions)),
        "non-talk s": f"{c.non_talk['total_ms'] / 1000:.1f}",
        "max latency s": f"{(c.response_latency_ms['max'] or 0) / 1000:.1f}",
        "RTF": f"{sum(report.timings_ms.values()) / audio_ms:.2f}",
    }


def turns_and_events(data: dict[str, Any]) -> tuple[list[Turn], list[Event]]:
    """The turns and detector events of a stored JSON report, as records."""
    turns = [Turn(t["speaker"], t["role"], t["begin_ms"], t["end_ms"], t["text"],
                  tuple(Word(w["text"], w["begin_ms"], w["end_ms"], w.get("prob", 1.0), t["speaker"]) for w in t["words"]))
             for t in data["turns"]]
    events = [Event(e["type"], e["speaker"], e["role"], e["begin_ms"], e["end_ms"], e["score"], e.get("evidence", {}))
              for e in data.get("events", [])]
    return turns, events


def rescore_report(data: dict[str, Any], pack_path: str | Path) -> dict[str, Any]:
    """A stored report with ``rules`` and ``score`` recomputed from its turns and events with a pack."""
    from .pipeline import apply_rules

    turns, events = turns_and_events(data)
    results, score = apply_rules(turns, events, data["source"]["duration_ms"], Path(pack_path))
    return {**data, "rules": [dataclasses.asdict(r) for r in results], "score": score,
            "options": {**data.get("options", {}), "rules_pack": str(pack_path)}}
