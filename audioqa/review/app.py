"""``audioqa review``: a small local web app where QA reviewers go through the night's calls.

Server-rendered pages (Flask, served by waitress): the list of calls, filterable and sortable, and each
call's spot-check page with confirm / reject on every event and rule result, marking of missed events on
the timeline, and "reviewed to the end". Reviews go to the results database (:mod:`.reviews`).

Safety: it listens on 127.0.0.1 unless told otherwise, and then also refuses requests for any other host
name (a web page cannot reach it through DNS rebinding); every form carries a token that only the app's
own pages hold (no cross-site forms); every text is HTML-escaped and pages load nothing from elsewhere.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from flask import Flask, Response, abort, redirect, request, send_file

from ..batch.export import call_night
from ..batch.store import DONE, Store, calls, events, reviews, scores
from ..errors import ReviewError
from ..output.page import ReviewControls, Verdict, render_call_page, render_review_index, render_reviewer_form
from ..records import EVENT_TYPES
from .reviews import (CALL, EVENT, MISSED, RULE, Review, call_reviews, delete_review, match_events, rule_result,
                      rule_verdicts, save_review, superseded)

COOKIE = "audioqa_reviewer"
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                               "media-src 'self'; img-src data:; form-action 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    """True for 127.0.0.1, ::1 and localhost: addresses no other machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """A Host header's name: '127.0.0.1:8000' → '127.0.0.1', '[::1]:8000' → '::1'."""
    return host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]


def call_link(call_id: str) -> str:
    return "/calls/" + quote(call_id, safe="")


def create_app(store: Store, *, local_only: bool = True) -> Flask:
    """The review app over a results store; ``local_only``: answer requests for this machine's names only."""
    app = Flask("audioqa.review")
    token = secrets.token_urlsafe(24)

    @app.before_request
    def guard() -> None:
        if local_only and not is_loopback(host_name(request.host)):
            abort(403)
        posted = request.form.get("token", "").encode()  # bytes: compare_digest refuses non-ASCII text
        if request.method == "POST" and not hmac.compare_digest(posted, token.encode()):
            abort(400, "This page is out of date (the review app was restarted): reload it and try again.")

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.update(_HEADERS)
        return response

    def reviewer() -> str | None:
        return request.cookies.get(COOKIE, "").strip() or None

    @app.get("/")
    def index() -> Any:
        name = reviewer()
        if name is None:
            return render_reviewer_form(token=token)
        filters = {k: request.args.get(k, "").strip() for k in
                   ("agent", "flag", "event", "min_score", "max_score", "since", "until", "reviewed")}
        rows, choices = _call_rows(store, filters)
        return render_review_index(rows, reviewer=name, filters=filters, choices=choices)

    @app.post("/reviewer")
    def set_reviewer() -> Any:
        name = request.form.get("reviewer", "").strip()
        if not name or len(name) > 100:
            return render_reviewer_form(token=token, message="A name of 1 to 100 characters, please."), 400
        response = redirect("/", code=303)
        response.set_cookie(COOKIE, name, max_age=30 * 86400, httponly=True, samesite="Strict")
        return response

    @app.get("/calls/<path:call_id>")
    def call_page(call_id: str) -> Any:
        name = reviewer()
        if name is None:
            return redirect("/", code=303)
        report = store.report(call_id)
        if report is None:
            abort(404)
        call = store.get(call_id) or {}
        audio = f"/audio/{quote(call_id, safe='')}" if Path(call.get("path") or "").is_file() else None
        controls = _controls(report, call_reviews(store, call_id), action=f"{call_link(call_id)}/reviews",
                             token=token, reviewer=name)
        return render_call_page(report, audio_src=audio, review=controls)

    @app.get("/audio/<path:call_id>")
    def audio(call_id: str) -> Any:
        call = store.get(call_id)
        if not call or not Path(call["path"]).is_file():
            abort(404)
        return send_file(Path(call["path"]).resolve(), conditional=True)

    @app.post("/calls/<path:call_id>/reviews")
    def review(call_id: str) -> Any:
        name = reviewer()
        if name is None:
            return redirect("/", code=303)
        report = store.report(call_id)
        if report is None:
            abort(404)
        try:
            anchor = _record(store, report, call_id, request.form, name)
        except (ReviewError, ValueError, OverflowError) as e:
            abort(400, str(e))
        return redirect(f"{call_link(call_id)}#{anchor}", code=303)

    return app


def _record(store: Store, report: dict[str, Any], call_id: str, form: Any, reviewer: str) -> str:
    """Save (or delete) what a review form says; returns the page anchor to go back to."""
    kind, subject, comment = form.get("kind", ""), form.get("subject", ""), form.get("comment", "")
    if kind == "delete":
        review_id = int(form.get("review_id", ""))
        if not 0 < review_id < 2**63:
            raise ReviewError("no such review")
        delete_review(store, call_id, review_id, reviewer)
        return "review"
    if kind == MISSED:
        begin_ms, end_ms = round(float(form.get("from_s", "")) * 1000), round(float(form.get("to_s", "")) * 1000)
        if end_ms > report["source"]["duration_ms"] + 1000:
            raise ReviewError("a missed event must lie within the call")
        save_review(store, Review(call_id, MISSED, subject, begin_ms, end_ms, MISSED, reviewer, comment))
        return "review"
    if kind == EVENT:
        begin_ms, end_ms = int(form.get("begin_ms", "")), int(form.get("end_ms", ""))
        events = report.get("events", [])
        index = next((i for i, e in enumerate(events) if e["type"] == subject and e["begin_ms"] == begin_ms
                      and e["end_ms"] == end_ms), None)
        if index is None:
            raise ReviewError("the call has no such event any more: reload the page")
        save_review(store, Review(call_id, EVENT, subject, begin_ms, end_ms, form.get("verdict", ""), reviewer,
                                  comment, score=events[index]["score"]),
                    replaces=superseded(events, call_reviews(store, call_id), index, reviewer))
        return "events"
    if kind == RULE:
        rule = next((r for r in report.get("rules", []) if r["id"] == subject), None)
        if rule is None:
            raise ReviewError("the call has no such rule result any more: reload the page")
        save_review(store, Review(call_id, RULE, subject, 0, 0, form.get("verdict", ""), reviewer, comment,
                                  reported=rule_result(rule)))
        return "scorecard"
    if kind == CALL:
        save_review(store, Review(call_id, CALL, "", 0, 0, form.get("verdict", ""), reviewer))
        return "review"
    raise ReviewError(f"unknown kind of review {kind!r}")


def _controls(report: dict[str, Any], items: list[Review], *, action: str, token: str,
              reviewer: str) -> ReviewControls:
    matched, gone = match_events(report.get("events", []), items)
    return ReviewControls(
        action=action, token=token, reviewer=reviewer,
        events={i: Verdict(r.verdict, r.reviewer, r.comment) for i, r in matched.items()},
        rules={k: Verdict(r.verdict, r.reviewer, r.comment) for k, r in rule_verdicts(items).items()},
        missed=[{"id": r.id, "type": r.subject, "begin_ms": r.begin_ms, "end_ms": r.end_ms, "reviewer": r.reviewer,
                 "comment": r.comment} for r in items if r.kind == MISSED],
        gone=[{"type": r.subject, "begin_ms": r.begin_ms, "end_ms": r.end_ms, "verdict": r.verdict,
               "reviewer": r.reviewer} for r in gone],
        done_by=sorted({r.reviewer for r in items if r.kind == CALL}))


def _call_rows(store: Store, filters: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The done calls as list rows, filtered; and the choices the filter form offers."""
    with store.engine.connect() as c:
        found = c.execute(sa.select(calls.c.call_id, calls.c.agent_id, calls.c.start_time, calls.c.updated_at,
                                    calls.c.duration_ms, scores.c.total, scores.c.fatal, scores.c.flags)
                          .join(scores, scores.c.call_id == calls.c.call_id, isouter=True)
                          .where(calls.c.status == DONE).order_by(calls.c.call_id)).mappings().all()
        counts = c.execute(sa.select(events.c.call_id, events.c.type, sa.func.count())
                           .group_by(events.c.call_id, events.c.type)).all()
        reviewed = dict(c.execute(sa.select(reviews.c.call_id, sa.func.count()).group_by(reviews.c.call_id)).all())
        done = {r for (r,) in c.execute(sa.select(reviews.c.call_id).where(reviews.c.kind == CALL).distinct())}
    event_counts: dict[str, dict[str, int]] = {}
    for call_id, event_type, n in counts:
        event_counts.setdefault(call_id, {})[event_type] = n
    rows = []
    for call in found:
        row = {"call_id": call["call_id"], "link": call_link(call["call_id"]), "agent_id": call["agent_id"],
               "night": call_night(dict(call)), "duration_s": (call["duration_ms"] or 0) / 1000,
               "score": call["total"], "fatal": call["fatal"], "flags": ",".join(call["flags"] or []),
               "reviews": reviewed.get(call["call_id"], 0), "done": call["call_id"] in done,
               **{f"events_{t}": event_counts.get(call["call_id"], {}).get(t, 0) for t in EVENT_TYPES}}
        rows.append(row)
    choices = {"agent": sorted({r["agent_id"] for r in rows if r["agent_id"]}),
               "flag": sorted({f for r in rows for f in r["flags"].split(",") if f}),
               "event": list(EVENT_TYPES)}
    return [r for r in rows if _keep(r, filters)], choices


def _keep(row: dict[str, Any], f: dict[str, str]) -> bool:
    """Whether a list row passes the filters (empty filters pass everything)."""
    def number(key: str) -> float | None:
        try:
            return float(f[key]) if f.get(key) else None
        except ValueError:
            return None

    low, high, score = number("min_score"), number("max_score"), row["score"]
    night = row["night"] or ""
    return ((not f.get("agent") or row["agent_id"] == f["agent"])
            and (not f.get("flag") or f["flag"] in row["flags"].split(","))
            and (not f.get("event") or row.get(f"events_{f['event']}", 0) > 0)
            and (low is None or (score is not None and score >= low))
            and (high is None or (score is not None and score <= high))
            and (not f.get("since") or night >= f["since"]) and (not f.get("until") or night <= f["until"])
            and (f.get("reviewed") != "yes" or row["done"]) and (f.get("reviewed") != "no" or not row["done"]))


def serve(store: Store, *, host: str = "127.0.0.1", port: int = 8000, threads: int = 4) -> Any:
    """A waitress server for the app (call ``.run()``; ``.effective_port`` is the port it got, for port 0)."""
    from waitress import create_server

    return create_server(create_app(store, local_only=is_loopback(host)), host=host, port=port, threads=threads)
