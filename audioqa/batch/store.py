"""The results store: SQLite by default, PostgreSQL by URL (SQLAlchemy Core).

One row per call in ``calls`` (status pending / running / done / failed, hashes, metadata, attempts,
timings); the full report in ``reports``; the scorecard, events and rule results in their own tables for
QA tools. Every change to a call is one transaction, so a batch killed at any moment leaves each call
either as it was or complete.

Batches that share a store claim each call with a lease (``lease_owner``, ``lease_until``): a conditional
UPDATE that SQLite and PostgreSQL both serialise, so no call is analysed by two batches at once. A batch
renews the leases of the calls it is running; a lease that ran out, or whose owner process on this host
is gone, is free to take.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..errors import StoreError

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"

metadata = sa.MetaData()

calls = sa.Table(
    "calls", metadata,
    sa.Column("call_id", sa.String(255), primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("content_sha256", sa.String(64)),  # empty when the file could not even be read
    sa.Column("analysis_hash", sa.String(64)),
    sa.Column("rules_hash", sa.String(64)),
    sa.Column("agent_id", sa.String(255)),
    sa.Column("queue", sa.String(255)),
    sa.Column("start_time", sa.String(64)),
    sa.Column("call_metadata", sa.JSON),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("duration_ms", sa.Integer),
    sa.Column("timings_ms", sa.JSON),
    sa.Column("report_path", sa.Text),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Column("lease_owner", sa.String(255)),  # host:pid:token of the batch running the call
    sa.Column("lease_until", sa.String(32)),  # UTC, ISO 8601: comparable as text in both databases
)
reports = sa.Table(
    "reports", metadata,
    sa.Column("call_id", sa.String(255), sa.ForeignKey("calls.call_id"), primary_key=True),
    sa.Column("report", sa.Text, nullable=False),
)
scores = sa.Table(
    "scores", metadata,
    sa.Column("call_id", sa.String(255), sa.ForeignKey("calls.call_id"), primary_key=True),
    sa.Column("total", sa.Float),
    sa.Column("passed", sa.Boolean),
    sa.Column("fatal", sa.Boolean),
    sa.Column("flags", sa.JSON),
    sa.Column("by_category", sa.JSON),
)
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String(255), sa.ForeignKey("calls.call_id"), index=True, nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16)),
    sa.Column("begin_ms", sa.Integer),
    sa.Column("end_ms", sa.Integer),
    sa.Column("score", sa.Float),
)
rule_results = sa.Table(
    "rule_results", metadata,
    sa.Column("call_id", sa.String(255), sa.ForeignKey("calls.call_id"), primary_key=True),
    sa.Column("rule_id", sa.String(128), primary_key=True),
    sa.Column("category", sa.String(64)),
    sa.Column("severity", sa.String(16)),
    sa.Column("passed", sa.Boolean),
    sa.Column("applicable", sa.Boolean),
    sa.Column("hits", sa.Integer),
)
# What reviewers said of a call's findings. Keyed by call, kind, subject and span, never by the row id of an
# event or rule result: re-analysis replaces those rows, and a review still finds the event it was about.
reviews = sa.Table(
    "reviews", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String(255), sa.ForeignKey("calls.call_id"), index=True, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # event, rule, missed (an event audioqa did not find), call
    sa.Column("subject", sa.String(128), nullable=False),  # event type or rule id; "" for the call
    sa.Column("begin_ms", sa.Integer, nullable=False),  # the span reviewed (0, 0 for a rule or the call)
    sa.Column("end_ms", sa.Integer, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),  # confirm, reject, missed, done
    sa.Column("reported", sa.String(16)),  # what audioqa said of a rule: fail, pass or n/a
    sa.Column("score", sa.Float),  # the event's score when it was reviewed
    sa.Column("reviewer", sa.String(255), nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("created_at", sa.String(32), nullable=False),  # UTC, ISO 8601
    sa.UniqueConstraint("call_id", "kind", "subject", "begin_ms", "end_ms", "reviewer", name="one_review_each"),
)


def _now(after_s: float = 0.0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=after_s)).isoformat(timespec="seconds")


def new_owner() -> str:
    """A batch's lease owner name: host, process id and a random token."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_gone(owner: str | None) -> bool:
    """True when ``owner`` names a process on this host that no longer runs (a killed batch)."""
    host, _, rest = (owner or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _add_missing_columns(engine: sa.Engine) -> None:
    """Bring a store written by an older audioqa up to date (new nullable columns only)."""
    for table in metadata.sorted_tables:
        present = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                kind = column.type.compile(dialect=engine.dialect)
                with engine.begin() as c:
                    c.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def default_url(out_dir: str | Path) -> str:
    return f"sqlite:///{Path(out_dir).resolve() / 'audioqa.db'}"


class Store:
    """Transactions over the results database."""

    def __init__(self, url: str, *, create: bool = True):
        """Open the database at ``url``; with ``create`` False (reading, as ``export`` does) it must already
        hold audioqa's tables: a mistyped path is an error, not a new empty database."""
        try:
            database = sa.engine.make_url(url).database
            if not create and url.startswith("sqlite") and database and database != ":memory:" \
                    and not Path(database).is_file():
                raise StoreError(f"no results database at {database}")
            self.engine = sa.create_engine(url, future=True)
            if self.engine.dialect.name == "sqlite":
                @sa.event.listens_for(self.engine, "connect")
                def _pragmas(connection, _record) -> None:
                    cursor = connection.cursor()
                    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
                    cursor.execute("PRAGMA synchronous=NORMAL")
                    cursor.execute("PRAGMA foreign_keys=ON")
                    cursor.close()
            if create:
                self.migrate()
            elif not sa.inspect(self.engine).has_table("calls"):
                raise StoreError(f"{sa.engine.make_url(url).render_as_string()} holds no audioqa results (no calls table)")
        except (sa.exc.SQLAlchemyError, ImportError) as e:
            raise StoreError(f"cannot open the results database {sa.engine.make_url(url).render_as_string()}: "
                             f"{e.__class__.__name__}: {str(e).splitlines()[0]}") from None
        self.url = url

    def migrate(self) -> None:
        """Create the tables and columns this audioqa has and the store lacks (a store from an older version)."""
        try:
            metadata.create_all(self.engine)
            _add_missing_columns(self.engine)
        except sa.exc.SQLAlchemyError as e:  # e.g. a database login that may read but not create tables
            raise StoreError(f"cannot bring the results database up to date (new tables or columns): "
                             f"{type(e).__name__}: {str(e).splitlines()[0]}") from None

    @contextmanager
    def atomic(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as connection:
            yield connection

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(calls).where(calls.c.call_id == call_id)).mappings().first()
        return dict(row) if row else None

    def all_calls(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(sa.select(calls).order_by(calls.c.call_id)).mappings()]

    def report(self, call_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            text = c.execute(sa.select(reports.c.report).where(reports.c.call_id == call_id)).scalar()
        return json.loads(text) if text else None

    def claim(self, call: dict[str, Any], owner: str, lease_s: float) -> int | None:
        """Take a call for analysis (inserting it if new) and mark it running under ``owner``'s lease.

        Returns its attempt number, or None when another live batch holds it or has meanwhile finished it
        with the same audio and settings. The UPDATE comes first, so the transaction takes the write lock
        before it reads (SQLite cannot upgrade a reader once another writer has committed).
        """
        now = _now()
        takeable = sa.or_(
            calls.c.status.in_([PENDING, FAILED]),
            sa.and_(calls.c.status == RUNNING, sa.or_(calls.c.lease_until.is_(None), calls.c.lease_until < now)),
            sa.and_(calls.c.status == DONE, sa.or_(calls.c.content_sha256 != call["content_sha256"],
                                                   calls.c.analysis_hash != call["analysis_hash"])))
        values = {**call, "status": RUNNING, "error": None, "lease_owner": owner, "lease_until": _now(lease_s),
                  "updated_at": now}
        key = calls.c.call_id == call["call_id"]
        with self.atomic() as c:
            taken = c.execute(calls.update().where(key, takeable).values(**values, attempts=calls.c.attempts + 1))
            if taken.rowcount == 1:
                return c.execute(sa.select(calls.c.attempts).where(key)).scalar_one()
            if c.execute(sa.select(calls.c.call_id).where(key)).first():
                return None
        try:
            with self.atomic() as c:
                c.execute(calls.insert().values(**values, attempts=1))
        except sa.exc.IntegrityError:  # another batch inserted it first
            return None
        return 1

    def renew(self, call_ids: Iterable[str], owner: str, lease_s: float) -> None:
        """Extend ``owner``'s leases on the calls it is still running."""
        ids = list(call_ids)
        if ids:
            with self.atomic() as c:
                c.execute(calls.update().where(calls.c.call_id.in_(ids), calls.c.lease_owner == owner,
                                               calls.c.status == RUNNING).values(lease_until=_now(lease_s)))

    def release(self, call_ids: Iterable[str], owner: str) -> int:
        """Give ``owner``'s running calls back (status pending, the interrupted attempt not counted)."""
        ids = list(call_ids)
        if not ids:
            return 0
        with self.atomic() as c:
            result = c.execute(calls.update().where(
                calls.c.call_id.in_(ids), calls.c.lease_owner == owner, calls.c.status == RUNNING).values(
                status=PENDING, attempts=calls.c.attempts - 1, lease_owner=None, lease_until=None,
                updated_at=_now()))
            return result.rowcount or 0

    def fail(self, call: dict[str, Any], error: str, *, final: bool = True) -> None:
        """Record a failure (status failed, or pending when it will be retried); inserts unknown calls."""
        with self.atomic() as c:
            exists = c.execute(sa.select(calls.c.call_id).where(calls.c.call_id == call["call_id"])).first()
            values = {"status": FAILED if final else PENDING, "error": error, "updated_at": _now(),
                      "lease_owner": None, "lease_until": None}
            if exists:
                c.execute(calls.update().where(calls.c.call_id == call["call_id"]).values(**values))
            else:
                c.execute(calls.insert().values(**{**call, **values, "attempts": 1}))

    def finish(self, call: dict[str, Any], report: dict[str, Any], report_path: str) -> None:
        """Store a done call's report, score, events and rule results, replacing any earlier ones, atomically."""
        call_id = call["call_id"]
        with self.atomic() as c:
            for table in (events, rule_results, scores, reports):
                c.execute(table.delete().where(table.c.call_id == call_id))
            c.execute(calls.update().where(calls.c.call_id == call_id).values(
                **{k: v for k, v in call.items() if k != "call_id"}, status=DONE, error=None,
                duration_ms=report["source"]["duration_ms"], timings_ms=report.get("timings_ms"),
                report_path=report_path, updated_at=_now(), lease_owner=None, lease_until=None))
            c.execute(reports.insert().values(call_id=call_id, report=json.dumps(report, ensure_ascii=False)))
            score = report.get("score") or {}
            c.execute(scores.insert().values(call_id=call_id, total=score.get("total"), passed=score.get("passed"),
                                             fatal=score.get("fatal"), flags=score.get("flags", []),
                                             by_category=score.get("by_category", {})))
            rows = [{"call_id": call_id, "type": e["type"], "role": e["role"], "begin_ms": e["begin_ms"],
                     "end_ms": e["end_ms"], "score": e["score"]} for e in report.get("events", [])]
            if rows:
                c.execute(events.insert(), rows)
            rows = [{"call_id": call_id, "rule_id": r["id"], "category": r["category"], "severity": r["severity"],
                     "passed": r["passed"], "applicable": r["applicable"], "hits": len(r["hits"])}
                    for r in report.get("rules", [])]
            if rows:
                c.execute(rule_results.insert(), rows)

    def requeue_interrupted(self) -> int:
        """Calls left ``running`` by a batch that is gone (its lease ran out, or its process on this host
        has died) go back to pending, the interrupted attempt not counted; returns how many. Calls that a
        live batch holds stay as they are."""
        now = _now()
        with self.engine.connect() as c:
            held = c.execute(sa.select(calls.c.call_id, calls.c.lease_owner, calls.c.lease_until)
                             .where(calls.c.status == RUNNING)).all()
        stale = [call_id for call_id, owner, until in held if not until or until < now or owner_gone(owner)]
        if not stale:
            return 0
        with self.atomic() as c:
            result = c.execute(calls.update().where(calls.c.call_id.in_(stale), calls.c.status == RUNNING)
                               .values(status=PENDING, attempts=calls.c.attempts - 1, lease_owner=None,
                                       lease_until=None, updated_at=now))
            return result.rowcount or 0
