"""Reviews: what QA reviewers said of a call's events and rule results, and the events audioqa missed.

A review is keyed by call, kind, subject (an event type or a rule id), span and reviewer: saying it again
replaces the reviewer's earlier verdict. Re-analysing a call leaves its reviews alone; an event review
applies to the call's current event of the same type that overlaps its span most (:func:`match_events`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from ..batch.store import Store, calls, reviews
from ..errors import ReviewError
from ..records import EVENT_TYPES

EVENT, RULE, MISSED, CALL = "event", "rule", "missed", "call"
CONFIRM, REJECT, DONE = "confirm", "reject", "done"
VERDICTS = {EVENT: (CONFIRM, REJECT), RULE: (CONFIRM, REJECT), MISSED: (MISSED,), CALL: (DONE,)}
MAX_REVIEWER_CHARS, MAX_COMMENT_CHARS = 100, 2000


@dataclass(frozen=True, slots=True)
class Review:
    """One reviewer's verdict on one finding of a call.

    ``kind`` event: ``subject`` is the event type, the span the event's, ``verdict`` confirm or reject.
    ``kind`` rule: ``subject`` is the rule id, ``reported`` what audioqa said (fail, pass or n/a), span 0-0.
    ``kind`` missed: an event of type ``subject`` that audioqa did not report, over the span.
    ``kind`` call: verdict done, the reviewer has gone through the whole call (every miss is marked).
    """

    call_id: str
    kind: str
    subject: str
    begin_ms: int
    end_ms: int
    verdict: str
    reviewer: str
    comment: str = ""
    reported: str | None = None
    score: float | None = None
    created_at: str = ""
    id: int | None = None

    @property
    def item(self) -> tuple[str, str, str, int, int]:
        """What the review is about, whoever the reviewer."""
        return self.call_id, self.kind, self.subject, self.begin_ms, self.end_ms


def utc_iso(moment: datetime) -> str:
    """A moment as the reviews table stores it: UTC, ISO 8601 to the second, no offset written.
    A moment without a time zone is taken as UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


def _check(review: Review) -> Review:
    reviewer = review.reviewer.strip()
    if not reviewer:
        raise ReviewError("a review needs the reviewer's name")
    if len(reviewer) > MAX_REVIEWER_CHARS or len(review.comment) > MAX_COMMENT_CHARS:
        raise ReviewError(f"a reviewer's name is at most {MAX_REVIEWER_CHARS} characters, "
                          f"a comment {MAX_COMMENT_CHARS}")
    if review.verdict not in VERDICTS.get(review.kind, ()):
        raise ReviewError(f"{review.kind!r} cannot be {review.verdict!r}")
    if review.kind in (EVENT, MISSED) and review.subject not in EVENT_TYPES:
        raise ReviewError(f"unknown event type {review.subject!r}")
    if review.kind in (EVENT, MISSED) and not 0 <= review.begin_ms < review.end_ms:
        raise ReviewError(f"a span must start before it ends (got {review.begin_ms}-{review.end_ms} ms)")
    try:
        created_at = utc_iso(datetime.fromisoformat(review.created_at) if review.created_at
                             else datetime.now(timezone.utc))
    except ValueError:
        raise ReviewError(f"a review's time must be ISO 8601 (got {review.created_at!r})") from None
    return Review(review.call_id, review.kind, review.subject, review.begin_ms, review.end_ms, review.verdict,
                  reviewer, review.comment.strip(), review.reported, review.score, created_at)


def save_review(store: Store, review: Review, *, replaces: Sequence[int] = ()) -> None:
    """Record a review, replacing the same reviewer's earlier verdict on the same item; it is dated now
    unless ``created_at`` (ISO 8601; stored in UTC) says otherwise (reviews brought from another tool).

    Args:
        replaces: ids of the reviewer's earlier reviews of the same call that this one supersedes (their
            verdict on an event that re-analysis has since moved), removed with the same commit.
    """
    review = _check(review)
    values = {"call_id": review.call_id, "kind": review.kind, "subject": review.subject,
              "begin_ms": review.begin_ms, "end_ms": review.end_ms, "verdict": review.verdict,
              "reviewer": review.reviewer, "comment": review.comment or None, "reported": review.reported,
              "score": review.score, "created_at": review.created_at}
    key = [reviews.c[k] == values[k] for k in ("call_id", "kind", "subject", "begin_ms", "end_ms", "reviewer")]
    for attempt in range(2):
        try:
            with store.atomic() as c:
                if not c.execute(sa.select(calls.c.call_id).where(calls.c.call_id == review.call_id)).first():
                    raise ReviewError(f"no call {review.call_id!r} in the results database")
                if replaces:
                    c.execute(reviews.delete().where(reviews.c.id.in_(list(replaces)),
                                                     reviews.c.call_id == review.call_id,
                                                     reviews.c.reviewer == review.reviewer))
                if not c.execute(reviews.update().where(*key).values(**values)).rowcount:
                    c.execute(reviews.insert().values(**values))
            return
        except sa.exc.IntegrityError:
            # the same review saved at the same moment (a double click): on PostgreSQL both saves can
            # find nothing to update and both insert; the second, tried again, updates the first's row
            if attempt:
                raise


def delete_review(store: Store, call_id: str, review_id: int, reviewer: str) -> bool:
    """Remove a miss that ``reviewer`` marked on a call by mistake; False when there was none (no one
    removes another reviewer's marks, nor verdicts: those are replaced by saying them again)."""
    with store.atomic() as c:
        result = c.execute(reviews.delete().where(reviews.c.id == review_id, reviews.c.call_id == call_id,
                                                  reviews.c.kind == MISSED, reviews.c.reviewer == reviewer))
        return bool(result.rowcount)


def _rows(store: Store, *where: Any) -> list[Review]:
    query = sa.select(reviews).where(*where).order_by(reviews.c.created_at, reviews.c.id)
    with store.engine.connect() as c:
        return [Review(**{k: v for k, v in row.items() if k != "comment"}, comment=row["comment"] or "")
                for row in c.execute(query).mappings()]


def call_reviews(store: Store, call_id: str) -> list[Review]:
    """Every review of one call, oldest first."""
    return _rows(store, reviews.c.call_id == call_id)


def all_reviews(store: Store, *, since: datetime | None = None) -> list[Review]:
    """Every review in the store, oldest first; ``since``: only those made on or after it (UTC when it
    has no time zone)."""
    if since is None:
        return _rows(store)
    return _rows(store, reviews.c.created_at >= utc_iso(since))


def latest(items: Iterable[Review]) -> list[Review]:
    """The latest verdict on each item, whoever gave it (reviews given oldest first)."""
    out: dict[tuple, Review] = {}
    for review in items:
        out[review.item] = review
    return list(out.values())


def overlap_ms(a_begin: int, a_end: int, b_begin: int, b_end: int) -> int:
    return max(0, min(a_end, b_end) - max(a_begin, b_begin))


def match_events(events: Sequence[dict[str, Any]], items: Iterable[Review]) -> tuple[dict[int, Review], list[Review]]:
    """Event reviews of a call against its current events (JSON form).

    Returns:
        (event index → the latest review of it, reviews that match no current event). A review matches
        the event of its type that overlaps its span most; the event's span may have moved with re-analysis.
    """
    matched: dict[int, Review] = {}
    unmatched = []
    for review in latest(r for r in items if r.kind == EVENT):
        index = _event_of(events, review)
        if index is None:
            unmatched.append(review)
        elif index not in matched or matched[index].created_at <= review.created_at:
            matched[index] = review
    return matched, unmatched


def _event_of(events: Sequence[dict[str, Any]], review: Review) -> int | None:
    """The index of the event of the review's type that overlaps its span most; None when none does."""
    overlap, index = max(((overlap_ms(review.begin_ms, review.end_ms, e["begin_ms"], e["end_ms"]), i)
                          for i, e in enumerate(events) if e["type"] == review.subject), default=(0, -1))
    return index if overlap > 0 else None


def superseded(events: Sequence[dict[str, Any]], items: Iterable[Review], index: int, reviewer: str) -> list[int]:
    """Ids of ``reviewer``'s event reviews that apply to ``events[index]`` but were given to another span of it
    (before re-analysis moved it): a new verdict on the event replaces them."""
    span = (events[index]["begin_ms"], events[index]["end_ms"])
    return [r.id for r in items if r.kind == EVENT and r.reviewer == reviewer and r.id is not None
            and (r.begin_ms, r.end_ms) != span and _event_of(events, r) == index]


def rule_verdicts(items: Iterable[Review]) -> dict[str, Review]:
    """Rule id → the latest review of the call's result for it."""
    return {r.subject: r for r in latest(r for r in items if r.kind == RULE)}


def rule_result(rule: dict[str, Any]) -> str:
    """What audioqa said of a rule (JSON form): fail, pass or n/a."""
    return "n/a" if not rule["applicable"] else "pass" if rule["passed"] else "fail"
