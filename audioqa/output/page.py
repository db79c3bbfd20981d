"""The spot-check page: one self-contained HTML file per call, and an index of the night's calls.

Everything is inline (CSS, a few lines of JS, SVG) and works offline with no network request. Every
piece of text that comes from a recording, a file name or metadata is HTML-escaped: a transcript that
says ``<script>`` shows as text.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ..records import AGENT_COUNTER_ESCALATION, AGENT_FREEZE, CUSTOMER_AGITATION, DRY_APPEASEMENT, MONOTONE_AGENT
from ..text import CJK
from .files import audio_data_uri, write_atomic

ROLE_COLOURS = {"agent": "#2b6cb0", "customer": "#c05621", "unknown": "#718096"}
EVENT_COLOURS = {CUSTOMER_AGITATION: "#e53e3e", AGENT_FREEZE: "#805ad5", AGENT_COUNTER_ESCALATION: "#d69e2e",
                 DRY_APPEASEMENT: "#38a169", MONOTONE_AGENT: "#718096"}
_WIDTH = 1000  # SVG user units across the call

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1a202c;background:#f7fafc}
header{background:#1a202c;color:#fff;padding:12px 20px;display:flex;gap:24px;flex-wrap:wrap;align-items:baseline}
header h1{font-size:18px;margin:0}.fail{color:#feb2b2}.pass{color:#9ae6b4}.flag{background:#e53e3e;color:#fff;
border-radius:3px;padding:1px 6px;margin-right:4px}main{padding:12px 20px}section{background:#fff;border:1px solid #e2e8f0;
border-radius:6px;padding:10px 14px;margin-bottom:12px}h2{font-size:15px;margin:4px 0 8px}
#player{width:100%;position:sticky;top:0;z-index:2}svg{width:100%;height:auto;display:block}
.turn{display:grid;grid-template-columns:92px 70px 1fr;gap:8px;padding:3px 4px;border-radius:4px;cursor:pointer}
.turn:hover{background:#edf2f7}.time{color:#718096;font-variant-numeric:tabular-nums}
.role-agent{color:#2b6cb0;font-weight:600}.role-customer{color:#c05621;font-weight:600}
mark{background:#fefcbf;border-bottom:2px solid #d69e2e;cursor:pointer}mark.bad{background:#fed7d7;border-color:#e53e3e}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e2e8f0;padding:3px 6px;text-align:left}
th{cursor:pointer;background:#edf2f7}.clickable{cursor:pointer}.legend span{margin-right:14px}
.ok{color:#2f855a}.ko{color:#c53030;font-weight:600}.na{color:#a0aec0}
"""

_JS = """
const player=document.getElementById('player');
document.querySelectorAll('[data-begin-ms]').forEach(el=>el.addEventListener('click',ev=>{
  ev.stopPropagation();if(!player)return;player.currentTime=Number(el.dataset.beginMs)/1000;
  const p=player.play();if(p)p.catch(()=>{});}));
"""

_SORT_JS = """
document.querySelectorAll('th').forEach((th,i)=>th.addEventListener('click',()=>{
  const body=th.closest('table').tBodies[0];const rows=[...body.rows];const asc=th.dataset.asc!=='1';
  th.dataset.asc=asc?'1':'0';const key=r=>{const t=r.cells[i].dataset.sort??r.cells[i].textContent;
  const n=parseFloat(t);return isNaN(n)?t:n};
  rows.sort((a,b)=>{const x=key(a),y=key(b);return (x>y?1:x<y?-1:0)*(asc?1:-1)});rows.forEach(r=>body.appendChild(r));}));
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _clock(ms: int) -> str:
    s = ms // 1000
    return f"{s // 60:d}:{s % 60:02d}.{(ms % 1000) // 100:d}"


def _timeline(report: dict[str, Any]) -> str:
    duration = max(report["source"]["duration_ms"], 1)
    x = lambda ms: round(ms / duration * _WIDTH, 2)  # noqa: E731
    roles = [r for r in ("agent", "customer") if any(t["role"] == r for t in report["turns"])] or ["unknown"]
    lane_h, curve_h = 22, 60
    top_events = 8
    parts = []
    height = top_events + 16 + len(roles) * (lane_h + 6) + 2 * (curve_h + 14) + 24
    # time axis
    for s in range(0, duration // 1000 + 1, max(5, (duration // 1000) // 10 // 5 * 5 or 5)):
        parts.append(f'<line x1="{x(s * 1000)}" y1="0" x2="{x(s * 1000)}" y2="{height - 14}" stroke="#edf2f7"/>'
                     f'<text x="{x(s * 1000)}" y="{height - 2}" font-size="10" fill="#718096">{_clock(s * 1000)[:-2]}</text>')
    # events on top, clickable
    for i, e in enumerate(report.get("events", [])):
        colour = EVENT_COLOURS.get(e["type"], "#718096")
        parts.append(f'<rect class="event clickable" id="event-{i}" data-begin-ms="{e["begin_ms"]}" x="{x(e["begin_ms"])}" '
                     f'y="0" width="{max(2, x(e["end_ms"]) - x(e["begin_ms"]))}" height="{top_events + 10}" fill="{colour}" '
                     f'opacity="0.75"><title>{_e(e["type"])} {e["score"]:.2f} at {_clock(e["begin_ms"])}</title></rect>')
    y = top_events + 16
    labels = []
    for role in roles:
        labels.append(f'<text x="2" y="{y + 15}" font-size="11" fill="#1a202c">{_e(role)}</text>')
        for t in report["turns"]:
            if t["role"] == role:
                parts.append(f'<rect class="clickable" data-begin-ms="{t["begin_ms"]}" x="{x(t["begin_ms"])}" y="{y}" '
                             f'width="{max(1, x(t["end_ms"]) - x(t["begin_ms"]))}" height="{lane_h}" '
                             f'fill="{ROLE_COLOURS.get(role, "#718096")}" opacity="0.8"><title>{_e(t["text"][:120])}'
                             f'</title></rect>')
        y += lane_h + 6
    conversation = report.get("conversation", {})
    for s in conversation.get("non_talk", {}).get("spans", []):
        parts.append(f'<rect x="{x(s["begin_ms"])}" y="{top_events + 16}" width="{x(s["end_ms"]) - x(s["begin_ms"])}" '
                     f'height="{len(roles) * (lane_h + 6)}" fill="#a0aec0" opacity="0.25"><title>silence '
                     f'{s["duration_ms"] / 1000:.1f} s</title></rect>')
    for i in conversation.get("interruptions", []):
        parts.append(f'<line class="clickable" data-begin-ms="{i["begin_ms"]}" x1="{x(i["begin_ms"])}" y1="{top_events + 12}" '
                     f'x2="{x(i["begin_ms"])}" y2="{y}" stroke="#e53e3e" stroke-width="2"><title>interruption by '
                     f'{_e(i["interrupter_role"])}</title></line>')
    parts.extend(labels)  # drawn last: above the turns
    # loudness and pitch curves per speaker
    for label, key, lo, hi in (("loudness dB", "loudness_db", -60.0, 0.0), ("pitch Hz", "f0_hz", 60.0, 400.0)):
        parts.append(f'<text x="2" y="{y + 10}" font-size="10" fill="#4a5568">{label}</text>')
        for sp in report.get("prosody", []):
            series = sp.get("series", {})
            runs: list[list[str]] = []
            last_t = None
            for t, v in zip(series.get("t_ms", []), series.get(key, [])):
                if v is None:
                    last_t = None
                    continue
                if last_t is None or t - last_t > 300:  # a pause breaks the curve
                    runs.append([])
                runs[-1].append(f"{x(t)},{round(y + curve_h - (min(max(v, lo), hi) - lo) / (hi - lo) * curve_h, 1)}")
                last_t = t
            colour = ROLE_COLOURS.get(sp["role"], "#718096")
            parts.extend(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="1"/>'
                         for run in runs if len(run) > 1)
        y += curve_h + 14
    return (f'<svg id="timeline" viewBox="0 0 {_WIDTH} {height}" preserveAspectRatio="none" role="img" '
            f'aria-label="timeline">{"".join(parts)}</svg>')


def _transcript(report: dict[str, Any]) -> str:
    rules = {r["id"]: r for r in report.get("rules", [])}
    marks: dict[int, list[tuple[int, int, str, bool]]] = {}
    for rule in rules.values():
        for h in rule["hits"]:
            if h["turn"] >= 0:
                bad = rule["applicable"] and not rule["passed"]
                marks.setdefault(h["turn"], []).append((h["begin_ms"], h["end_ms"], rule["id"], bad))
    rows = []
    for i, t in enumerate(report["turns"]):
        pieces = []
        for w in t["words"]:
            hit = next((m for m in marks.get(i, []) if m[0] <= w["begin_ms"] < m[1]), None)
            text = _e(w["text"])
            if hit:
                rule = rules[hit[2]]
                text = (f'<mark class="{"bad" if hit[3] else "good"}" data-begin-ms="{w["begin_ms"]}" '
                        f'title="{_e(rule["id"])}: {_e(rule["description"])}">{text}</mark>')
            pieces.append(text)
        cjk = bool(CJK.search(t["text"]))
        body = ("" if cjk else " ").join(pieces)
        rows.append(f'<div class="turn" data-begin-ms="{t["begin_ms"]}"><span class="time">{_clock(t["begin_ms"])}'
                    f'</span><span class="role-{_e(t["role"])}">{_e(t["role"])}</span><span>{body}</span></div>')
    return "\n".join(rows)


def _scorecard(report: dict[str, Any]) -> str:
    rows = []
    for r in report.get("rules", []):
        state = ('<span class="na">n/a</span>' if not r["applicable"] else
                 '<span class="ok">pass</span>' if r["passed"] else '<span class="ko">FAIL</span>')
        first = r["hits"][0]["begin_ms"] if r["hits"] else None
        where = (f'<a class="clickable" data-begin-ms="{first}">{_clock(first)}</a>' if first is not None else "")
        rows.append(f"<tr><td>{_e(r['category'])}</td><td>{_e(r['id'])}</td><td>{_e(r['description'])}</td>"
                    f"<td>{_e(r['severity'])}</td><td>{state}</td><td>{where}</td></tr>")
    return ("<table><thead><tr><th>category</th><th>rule</th><th>description</th><th>severity</th><th>result</th>"
            f"<th>at</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def render_call_page(report: dict[str, Any], *, audio_src: str | None) -> str:
    """The spot-check page of one call (a JSON report as written by ``audioqa analyze``)."""
    score = report.get("score") or {}
    result = ("unscorable" if not score.get("scorable", True) else "pass" if score.get("passed") else "fail")
    verdict = ("" if not score else
               f'<span class="{"pass" if score.get("passed") else "fail"}">score {score.get("total")} '
               f'({result}{", FATAL" if score.get("fatal") else ""})</span>')
    flags = "".join(f'<span class="flag">{_e(f)}</span>' for f in score.get("flags", []))
    events = "".join(f'<li class="clickable" data-begin-ms="{e["begin_ms"]}" id="event-item-{i}">'
                     f'<b style="color:{EVENT_COLOURS.get(e["type"], "#718096")}">{_e(e["type"])}</b> '
                     f'{_clock(e["begin_ms"])}–{_clock(e["end_ms"])} ({_e(e["role"])}, score {e["score"]:.2f})</li>'
                     for i, e in enumerate(report.get("events", [])))
    legend = "".join(f'<span style="color:{c}">■ {_e(t)}</span>' for t, c in EVENT_COLOURS.items())
    audio = f'<audio id="player" controls preload="auto" src="{_e(audio_src)}"></audio>' if audio_src else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; media-src data: blob: 'self'; img-src data:">
<title>{_e(report["call_id"])} · audioqa</title><style>{_CSS}</style></head>
<body><header><h1>{_e(report["call_id"])}</h1><span>{report["source"]["duration_ms"] / 1000:.1f} s</span>
<span>{_e(report.get("language", ""))}</span><span>{_e(report.get("options", {}).get("layout", ""))}</span>
{verdict}<span>{flags}</span></header>
<main>{audio}
<section><h2>Timeline</h2><div class="legend"><span style="color:#2b6cb0">■ agent</span><span style="color:#c05621">■ customer</span>{legend}</div>
{_timeline(report)}<ul id="events">{events or "<li>no events</li>"}</ul></section>
<section><h2>Transcript</h2><div id="transcript">{_transcript(report)}</div></section>
<section><h2>Scorecard</h2>{_scorecard(report)}</section>
</main><script>{_JS}</script></body></html>
"""


def write_call_page(report: dict[str, Any], out_dir: Path, *, samples: np.ndarray | None = None,
                    sample_rate_hz: int = 16000, audio_relative: str | None = None) -> Path:
    """Write ``<call_id>.html``: audio embedded from ``samples``, or referenced at ``audio_relative``."""
    src = audio_relative if audio_relative is not None else (
        audio_data_uri(samples, sample_rate_hz=sample_rate_hz) if samples is not None else None)
    path = Path(out_dir) / f"{report['call_id']}.html"
    write_atomic(path, render_call_page(report, audio_src=src))
    return path


def _page_link(call_id: str) -> str:
    """The relative, URL-encoded link to a call's page: a call id such as ``javascript:…`` or ``call#1``
    stays a file name (a scheme or fragment cannot survive the encoding)."""
    return "./" + quote(f"{call_id}.html", safe="")


def render_index(rows: Sequence[dict[str, Any]], *, title: str = "audioqa: calls") -> str:
    """The night's calls in a sortable table (click a column header), each linking to its page."""
    body = []
    for r in rows:
        score = r.get("score")
        body.append(f'<tr><td><a href="{_e(_page_link(r["call_id"]))}">{_e(r["call_id"])}</a></td><td>{_e(r.get("agent_id") or "")}</td>'
                    f'<td data-sort="{r.get("duration_s", 0)}">{r.get("duration_s", 0):.0f} s</td>'
                    f'<td data-sort="{"" if score is None else score}">{"" if score is None else score}</td>'
                    f'<td>{"FATAL" if r.get("fatal") else ""}</td><td>{_e(r.get("flags", ""))}</td>'
                    + "".join(f'<td>{r.get(f"events_{t}", 0)}</td>' for t in EVENT_COLOURS) + "</tr>")
    head = "".join(f"<th>{_e(h)}</th>" for h in ("call", "agent", "duration", "score", "fatal", "flags",
                                                 *EVENT_COLOURS))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
            f'script-src \'unsafe-inline\'"><style>{_CSS}</style></head><body><header><h1>{_e(title)}</h1>'
            f'<span>{len(rows)} calls</span></header><main><section><table id="calls"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></section></main><script>{_SORT_JS}</script></body></html>')
