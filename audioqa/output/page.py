"""The spot-check page: one self-contained HTML file per call, and an index of the night's calls.

Everything is inline (CSS, a few lines of JS, SVG) and works offline with no network request. Every
piece of text that comes from a recording, a file name or metadata is HTML-escaped: a transcript that
says ``<script>`` shows as text.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ..records import (AGENT_COUNTER_ESCALATION, AGENT_FREEZE, CUSTOMER_AGITATION, DRY_APPEASEMENT, EVENT_TYPES,
                       MONOTONE_AGENT)
from ..text import CJK
from .files import audio_data_uri, write_atomic

ROLE_COLOURS = {"agent": "#2b6cb0", "customer": "#c05621", "unknown": "#718096"}
EVENT_COLOURS = {CUSTOMER_AGITATION: "#e53e3e", AGENT_FREEZE: "#805ad5", AGENT_COUNTER_ESCALATION: "#d69e2e",
                 DRY_APPEASEMENT: "#38a169", MONOTONE_AGENT: "#718096"}
_WIDTH = 1000  # SVG user units across the call

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1a202c;background:#f7fafc}
header{background:#1a202c;color:#fff;padding:12px 20px;display:flex;gap:24px;flex-wrap:wrap;align-items:baseline}
header h1{font-size:18px;margin:0}header a{color:#bee3f8}.fail{color:#feb2b2}.pass{color:#9ae6b4}.flag{background:#e53e3e;color:#fff;
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
form.review{display:inline-flex;gap:4px;align-items:center;margin-left:8px}form.review input[name=comment]{width:14em}
.verdict-confirm{color:#2f855a;font-weight:600}.verdict-reject{color:#c53030;font-weight:600}
#mark-miss input[type=number],#filters input[type=number]{width:6em}#filters label{margin-right:14px;white-space:nowrap}
td.night{white-space:nowrap}
"""

_JS = """
const player=document.getElementById('player');
document.querySelectorAll('[data-begin-ms]').forEach(el=>el.addEventListener('click',ev=>{
  ev.stopPropagation();if(!player)return;player.currentTime=Number(el.dataset.beginMs)/1000;
  const p=player.play();if(p)p.catch(()=>{});}));
"""

# Review mode: a click on the timeline sets the start, then the end, of a missed event (form #mark-miss).
_MARK_JS = """
const tl=document.getElementById('timeline'),from=document.getElementById('miss-from'),to=document.getElementById('miss-to');
document.querySelectorAll('form.review').forEach(f=>f.addEventListener('click',ev=>ev.stopPropagation()));
if(tl&&from&&to){const span=document.getElementById('miss-span'),ms=Number(tl.dataset.durationMs),w=%d;
  const show=()=>{const a=Number(from.value),b=Number(to.value||from.value);span.setAttribute('x',a*1000/ms*w);
    span.setAttribute('width',Math.max(2,(b-a)*1000/ms*w));};
  tl.addEventListener('click',ev=>{const r=tl.getBoundingClientRect();
    const s=Math.max(0,Math.min(ms/1000,(ev.clientX-r.left)/r.width*ms/1000)).toFixed(1);
    if(!from.value||to.value){from.value=s;to.value='';}else if(Number(s)>Number(from.value)){to.value=s;}
    else{to.value=from.value;from.value=s;}show();},true);
  from.addEventListener('input',show);to.addEventListener('input',show);}
""" % _WIDTH

_SORT_JS = """
document.querySelectorAll('th').forEach((th,i)=>th.addEventListener('click',()=>{
  const body=th.closest('table').tBodies[0];const rows=[...body.rows];const asc=th.dataset.asc!=='1';
  th.dataset.asc=asc?'1':'0';const key=r=>{const t=r.cells[i].dataset.sort??r.cells[i].textContent;
  const n=parseFloat(t);return isNaN(n)?t:n};
  rows.sort((a,b)=>{const x=key(a),y=key(b);return (x>y?1:x<y?-1:0)*(asc?1:-1)});rows.forEach(r=>body.appendChild(r));}));
"""


@dataclass(frozen=True)
class Verdict:
    """A reviewer's latest word on one finding, as the page shows it."""

    verdict: str  # confirm, reject
    reviewer: str
    comment: str = ""


@dataclass(frozen=True)
class ReviewControls:
    """What the review app adds to a call's page: confirm / reject forms on every event and rule result,
    a form to mark an event audioqa missed, and one to say the whole call has been reviewed. Every form
    posts to ``action`` with the app's ``token`` (a forged cross-site form has no token)."""

    action: str
    token: str
    reviewer: str
    events: dict[int, Verdict] = field(default_factory=dict)  # by index in the report's events
    rules: dict[str, Verdict] = field(default_factory=dict)  # by rule id
    missed: Sequence[dict[str, Any]] = ()  # id, type, begin_ms, end_ms, reviewer, comment
    gone: Sequence[dict[str, Any]] = ()  # earlier event reviews whose event re-analysis no longer finds
    done_by: Sequence[str] = ()  # reviewers who went through the whole call
    home: str = "/"  # the list of calls


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
    parts.append(f'<rect id="miss-span" x="0" y="0" width="0" height="{height - 14}" fill="#e53e3e" opacity="0.15"/>')
    return (f'<svg id="timeline" viewBox="0 0 {_WIDTH} {height}" preserveAspectRatio="none" role="img" '
            f'aria-label="timeline" data-duration-ms="{duration}">{"".join(parts)}</svg>')


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


def _form(review: ReviewControls, fields: dict[str, Any], buttons: Sequence[tuple[str, str]], *,
          comment: str | None = "", current: Verdict | None = None) -> str:
    """A review form: hidden ``fields``, an optional comment box, one button per (verdict, label)."""
    hidden = "".join(f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">'
                     for k, v in {"token": review.token, **fields}.items())
    box = ("" if comment is None else
           f'<input name="comment" maxlength="2000" placeholder="comment" value="{_e(comment)}">')
    pressed = "".join(f'<button name="verdict" value="{_e(v)}">{_e(label)}</button>' for v, label in buttons)
    said = ("" if current is None else
            f'<span class="verdict-{_e(current.verdict)}">{_e(current.verdict)}ed by {_e(current.reviewer)}</span>'
            + (f' <q class="comment">{_e(current.comment)}</q>' if current.comment else ""))
    return f'<form class="review" method="post" action="{_e(review.action)}">{hidden}{box}{pressed}{said}</form>'


_RIGHT_WRONG = (("confirm", "✓ right"), ("reject", "✗ wrong"))


def _event_form(review: ReviewControls, i: int, e: dict[str, Any]) -> str:
    current = review.events.get(i)
    return _form(review, {"kind": "event", "subject": e["type"], "begin_ms": e["begin_ms"], "end_ms": e["end_ms"],
                          "score": e["score"]}, _RIGHT_WRONG, comment=current.comment if current else "",
                 current=current)


def _review_section(report: dict[str, Any], review: ReviewControls) -> str:
    """Marking what audioqa missed, the marks so far, and finishing the call."""
    options = "".join(f'<option value="{_e(t)}">{_e(t)}</option>' for t in EVENT_TYPES)
    duration_s = report["source"]["duration_ms"] / 1000
    mark = (f'<form class="review" id="mark-miss" method="post" action="{_e(review.action)}">'
            f'<input type="hidden" name="token" value="{_e(review.token)}"><input type="hidden" name="kind" value="missed">'
            f'<label>missed <select name="subject">{options}</select></label>'
            f'<label>from <input id="miss-from" name="from_s" type="number" step="0.1" min="0" max="{duration_s:.1f}" required> s</label>'
            f'<label>to <input id="miss-to" name="to_s" type="number" step="0.1" min="0" max="{duration_s:.1f}" required> s</label>'
            f'<input name="comment" maxlength="2000" placeholder="comment">'
            f'<button name="verdict" value="missed">mark missed</button></form>'
            '<p class="na">Click the timeline where it starts and where it ends, or type the times.</p>')
    marks = "".join(
        f'<li class="missed"><span class="clickable" data-begin-ms="{m["begin_ms"]}"><b>{_e(m["type"])}</b> '
        f'{_clock(m["begin_ms"])}–{_clock(m["end_ms"])}</span> marked by {_e(m["reviewer"])}'
        + (f' <q class="comment">{_e(m["comment"])}</q>' if m.get("comment") else "")
        + (_form(review, {"kind": "delete", "review_id": m["id"]}, (("delete", "remove"),), comment=None)
           if m["reviewer"] == review.reviewer else "") + "</li>"
        for m in review.missed)
    gone = "".join(f'<li>{_e(g["type"])} {_clock(g["begin_ms"])}–{_clock(g["end_ms"])}: {_e(g["verdict"])}ed by '
                   f'{_e(g["reviewer"])}, no such event since re-analysis</li>' for g in review.gone)
    done = ", ".join(_e(name) for name in review.done_by)
    finish = _form(review, {"kind": "call", "subject": ""}, (("done", "I have reviewed the whole call"),),
                   comment=None)
    return (f'<section id="review"><h2>Review (as {_e(review.reviewer)})</h2>{mark}'
            f'<ul id="missed">{marks or "<li>no missed events marked</li>"}</ul>'
            + (f'<p>Earlier reviews:</p><ul id="gone">{gone}</ul>' if gone else "")
            + f'<div id="done">{"Reviewed to the end by " + done if done else "Not yet reviewed to the end."} {finish}</div>'
            '</section>')


def _scorecard(report: dict[str, Any], review: ReviewControls | None = None) -> str:
    rows = []
    for r in report.get("rules", []):
        state = ('<span class="na">n/a</span>' if not r["applicable"] else
                 '<span class="ok">pass</span>' if r["passed"] else '<span class="ko">FAIL</span>')
        first = r["hits"][0]["begin_ms"] if r["hits"] else None
        where = (f'<a class="clickable" data-begin-ms="{first}">{_clock(first)}</a>' if first is not None else "")
        form = ""
        if review is not None:
            current = review.rules.get(r["id"])
            form = "<td>" + _form(review, {"kind": "rule", "subject": r["id"]}, _RIGHT_WRONG,
                                  comment=current.comment if current else "", current=current) + "</td>"
        rows.append(f"<tr><td>{_e(r['category'])}</td><td>{_e(r['id'])}</td><td>{_e(r['description'])}</td>"
                    f"<td>{_e(r['severity'])}</td><td>{state}</td><td>{where}</td>{form}</tr>")
    extra = "<th>review</th>" if review is not None else ""
    return ("<table><thead><tr><th>category</th><th>rule</th><th>description</th><th>severity</th><th>result</th>"
            f"<th>at</th>{extra}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def render_call_page(report: dict[str, Any], *, audio_src: str | None, review: ReviewControls | None = None) -> str:
    """The spot-check page of one call (a JSON report as written by ``audioqa analyze``); with ``review``,
    the review app's page of it."""
    score = report.get("score") or {}
    result = ("unscorable" if not score.get("scorable", True) else "pass" if score.get("passed") else "fail")
    verdict = ("" if not score else
               f'<span class="{"pass" if score.get("passed") else "fail"}">score {score.get("total")} '
               f'({result}{", FATAL" if score.get("fatal") else ""})</span>')
    flags = "".join(f'<span class="flag">{_e(f)}</span>' for f in score.get("flags", []))
    events = "".join(f'<li class="clickable" data-begin-ms="{e["begin_ms"]}" id="event-item-{i}">'
                     f'<b style="color:{EVENT_COLOURS.get(e["type"], "#718096")}">{_e(e["type"])}</b> '
                     f'{_clock(e["begin_ms"])}–{_clock(e["end_ms"])} ({_e(e["role"])}, score {e["score"]:.2f})'
                     f'{_event_form(review, i, e) if review else ""}</li>'
                     for i, e in enumerate(report.get("events", [])))
    legend = "".join(f'<span style="color:{c}">■ {_e(t)}</span>' for t, c in EVENT_COLOURS.items())
    audio = f'<audio id="player" controls preload="auto" src="{_e(audio_src)}"></audio>' if audio_src else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; media-src data: blob: 'self'; img-src data:; form-action 'self'">
<title>{_e(report["call_id"])} · audioqa</title><style>{_CSS}</style></head>
<body><header><h1>{_e(report["call_id"])}</h1><span>{report["source"]["duration_ms"] / 1000:.1f} s</span>
<span>{_e(report.get("language", ""))}</span><span>{_e(report.get("options", {}).get("layout", ""))}</span>
{verdict}<span>{flags}</span>{f'<a class="home" href="{_e(review.home)}">all calls</a>' if review else ""}</header>
<main>{audio}
<section><h2>Timeline</h2><div class="legend"><span style="color:#2b6cb0">■ agent</span><span style="color:#c05621">■ customer</span>{legend}</div>
{_timeline(report)}<ul id="events">{events or "<li>no events</li>"}</ul></section>
{_review_section(report, review) if review else ""}
<section><h2>Transcript</h2><div id="transcript">{_transcript(report)}</div></section>
<section id="scorecard"><h2>Scorecard</h2>{_scorecard(report, review)}</section>
</main><script>{_JS}{_MARK_JS if review else ""}</script></body></html>
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


def render_review_index(rows: Sequence[dict[str, Any]], *, reviewer: str, filters: dict[str, str],
                        choices: dict[str, Sequence[str]]) -> str:
    """The review app's list of calls: a filter form (GET) and a sortable table linking each call's page.

    Args:
        rows: call_id, link, agent_id, night, duration_s, score, fatal, flags, events_<type> and reviews.
        filters: the current filter values by form field name, to show them again.
        choices: the values offered for ``agent``, ``flag`` and ``event``.
    """
    def select(name: str, label: str) -> str:
        options = "".join(f'<option value="{_e(v)}"{" selected" if filters.get(name) == v else ""}>{_e(v)}</option>'
                          for v in choices.get(name, ()))
        return f'<label>{label} <select name="{name}"><option value="">any</option>{options}</select></label>'

    def box(name: str, label: str, kind: str) -> str:
        return f'<label>{label} <input name="{name}" type="{kind}" value="{_e(filters.get(name, ""))}" step="any"></label>'

    form = (f'<form id="filters" method="get" action="">{select("agent", "agent")}{select("flag", "flag")}'
            f'{select("event", "event")}{box("min_score", "score from", "number")}{box("max_score", "to", "number")}'
            f'{box("since", "night from", "date")}{box("until", "to", "date")}'
            f'<label>reviewed <select name="reviewed">'
            + "".join(f'<option value="{v}"{" selected" if filters.get("reviewed", "") == v else ""}>{label}</option>'
                      for v, label in (("", "any"), ("no", "not to the end"), ("yes", "to the end")))
            + '</select></label><button>filter</button> <a href="?">clear</a></form>')
    body = []
    for r in rows:
        score = r.get("score")
        body.append(f'<tr><td><a href="{_e(r["link"])}">{_e(r["call_id"])}</a></td><td>{_e(r.get("agent_id") or "")}</td>'
                    f'<td class="night">{_e(r.get("night") or "")}</td><td data-sort="{r.get("duration_s", 0)}">{r.get("duration_s", 0):.0f} s</td>'
                    f'<td data-sort="{"" if score is None else score}">{"" if score is None else score}</td>'
                    f'<td>{"FATAL" if r.get("fatal") else ""}</td><td>{_e(r.get("flags", "").replace(",", ", "))}</td>'
                    + "".join(f'<td>{r.get(f"events_{t}", 0)}</td>' for t in EVENT_TYPES)
                    + f'<td data-sort="{r.get("reviews", 0)}">{r.get("reviews", 0)}{" ✓" if r.get("done") else ""}</td></tr>')
    short = [t.replace("customer_", "").replace("agent_", "").replace("_agent", "").replace("_", " ") for t in EVENT_TYPES]
    head = "".join(f"<th>{_e(h)}</th>" for h in ("call", "agent", "night", "duration", "score", "fatal", "flags",
                                                 *short, "reviews"))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>audioqa review</title>'
            f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
            f'script-src \'unsafe-inline\'; form-action \'self\'"><style>{_CSS}</style></head><body><header>'
            f'<h1>audioqa review</h1><span>{len(rows)} calls</span><span>reviewer: {_e(reviewer)}</span></header>'
            f'<main><section>{form}</section><section><table id="calls"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></section></main><script>{_SORT_JS}</script></body></html>')


def render_reviewer_form(*, token: str, message: str = "") -> str:
    """The review app's first page: who is reviewing (every review carries the reviewer's name)."""
    note = f'<p class="ko">{_e(message)}</p>' if message else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>audioqa review</title>'
            f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
            f'form-action \'self\'"><style>{_CSS}</style></head><body><header><h1>audioqa review</h1></header><main>'
            f'<section>{note}<form id="reviewer" method="post" action="/reviewer">'
            f'<input type="hidden" name="token" value="{_e(token)}"><label>Your name '
            f'<input name="reviewer" required maxlength="100" autofocus></label> <button>start reviewing</button>'
            f'</form></section></main></body></html>')
