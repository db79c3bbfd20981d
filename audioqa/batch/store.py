"""The results store: SQLite by default, PostgreSQL by URL (SQLAlchemy Core).

One row per call in ``calls`` (status pending / running / done / failed, hashes, metadata, attempts,
timings); the full report in ``reports``; the scorecard, events and rule results in their own tables for
QA tools. Every change to a call is one transaction, so a batch killed at any moment leaves each call
either as it was or complete.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
                metadata.create_all(self.engine)
            elif not sa.inspect(self.engine).has_table("calls"):
                raise StoreError(f"{sa.engine.make_url(url).render_as_string()} holds no audioqa results (no calls table)")
        except (sa.exc.SQLAlchemyError, ImportError) as e:
            raise StoreError(f"cannot open the results database {sa.engine.make_url(url).render_as_string()}: "
                             f"{e.__class__.__name__}: {str(e).splitlines()[0]}") from None
        self.url = url

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

    def start(self, call: dict[str, Any]) -> int:
        """Mark a call running (inserting it if new); returns its attempt number."""
        with self.atomic() as c:
            row = c.execute(sa.select(calls.c.attempts).where(calls.c.call_id == call["call_id"])).first()
            attempts = (row[0] if row else 0) + 1
            values = {**call, "status": RUNNING, "error": None, "attempts": attempts, "updated_at": _now()}
            if row:
                c.execute(calls.update().where(calls.c.call_id == call["call_id"]).values(**values))
            else:
                c.execute(calls.insert().values(**values))
        return attempts

    def fail(self, call: dict[str, Any], error: str, *, final: bool = True) -> None:
        """Record a failure (status failed, or pending when it will be retried); inserts unknown calls."""
        with self.atomic() as c:
            exists = c.execute(sa.select(calls.c.call_id).where(calls.c.call_id == call["call_id"])).first()
            values = {"status": FAILED if final else PENDING, "error": error, "updated_at": _now()}
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
                report_path=report_path, updated_at=_now()))
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
        """Calls left ``running`` by a killed batch go back to pending; returns how many."""
        with self.atomic() as c:
            result = c.execute(calls.update().where(calls.c.status == RUNNING).values(status=PENDING,
                                                                                      updated_at=_now()))
            return result.rowcount or 0
