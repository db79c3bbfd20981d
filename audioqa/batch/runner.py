"""The nightly batch: every recording under the inputs through the same pipeline as ``analyze``.

Resumable and idempotent: a call already done with the same audio (content hash) and the same analysis
settings is skipped; if only the rule packs changed, its stored report is re-scored without
re-transcribing; calls left running by a killed batch are picked up again, while calls that another live
batch on the same store holds are left to it. Workers are processes that load the models once; only the
parent writes to the database, one transaction per call. SIGTERM or Ctrl-C stop the batch cleanly: the
workers end and the calls they held go back to pending for the next run.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..audio import decode_audio
from ..config import Config, load_config
from ..errors import AudioQAError
from ..output import render_index, write_atomic, write_call_page
from ..output.report import write_report_data
from ..scoring import check_packs, rescore_report
from .executors import Progress, Stop, Summary, run_local, run_ray
from .export import collect
from .plan import Job, discover, plan
from .store import Store, new_owner

logger = logging.getLogger("audioqa")


def run_batch(inputs: Sequence[Path], out_dir: Path, store: Store, *, config_path: str | None = None,
              overrides: dict[str, Any] | None = None, workers: int = 1, executor: str = "local",
              glob: str = "*", since: datetime | None = None, ray_address: str | None = None,
              progress: Progress | None = None, on_plan: Callable[[list[Job]], None] | None = None) -> Summary:
    """Run a batch; see the module docstring. Raises AudioQAError when it cannot run at all."""
    overrides = overrides or {}
    config = load_config(config_path, overrides)
    check_packs(config)
    progress = progress or (lambda call_id, outcome: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    requeued = store.requeue_interrupted()
    if requeued:
        logger.warning("%d call(s) left running by an interrupted batch will be analysed again", requeued)
    jobs = plan(discover(inputs, pattern=glob, extensions=config.batch.extensions), store, config, since=since)
    if on_plan:
        on_plan(jobs)
    summary, stop = Summary(), Stop()
    started = time.perf_counter()
    with _stop_on_signals(stop):
        _run_jobs(jobs, out_dir, store, config, summary, stop, progress, executor=executor, workers=workers,
                  config_path=config_path, overrides=overrides, ray_address=ray_address)
    summary.stopped_by = stop.signum
    summary.processing_s = time.perf_counter() - started
    if config.report.html:
        rows, _ = collect(store, redact=False)
        write_atomic(out_dir / "index.html", render_index(rows, title=f"audioqa: {len(rows)} calls"))
    if summary.elsewhere:
        logger.warning("%d call(s) held by another batch on this store were left to it", len(summary.elsewhere))
    return summary


@contextmanager
def _stop_on_signals(stop: Stop) -> Iterator[None]:
    """While the batch runs, SIGTERM and SIGINT set ``stop`` instead of killing the process at once."""
    if threading.current_thread() is not threading.main_thread():  # signals can only be set up there
        yield
        return

    def handle(signum: int, _frame) -> None:
        stop.signum = signum

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _run_jobs(jobs: list[Job], out_dir: Path, store: Store, config: Config, summary: Summary, stop: Stop,
              progress: Progress, *, executor: str, workers: int, config_path: str | None,
              overrides: dict[str, Any], ray_address: str | None) -> None:
    for job in jobs:
        if stop.signum:
            return
        if job.action == "skip":
            (summary.failed.__setitem__(job.call["path"], job.reason) if job.reason else
             summary.skipped.append(job.call["call_id"]))
            progress(job.call["call_id"], "failed" if job.reason else "skipped")
        elif job.action == "ignore":
            summary.ignored.append(job.call["path"])
        elif job.action == "fail":
            store.fail(job.call, job.reason)
            summary.failed[job.call["path"]] = job.reason
            progress(job.call["call_id"], "failed")
        elif job.action == "rescore":
            data = store.report(job.call["call_id"])
            language = data.get("language", "")
            pack = config.rules.pack_path(language)
            data = rescore_report(data, pack, config.rules.disabled) if pack else data
            report_path = out_dir / f"{job.call['call_id']}.json"
            write_report_data(data, report_path)
            if config.report.html:  # the page shows the scorecard: refresh it (decoding only, no ASR)
                write_call_page(data, out_dir, samples=decode_audio(job.path).samples)
            store.finish(job.call, data, str(report_path))
            summary.rescored.append(job.call["call_id"])
            progress(job.call["call_id"], "rescored")
    to_analyse = [j for j in jobs if j.action == "analyze"]
    if to_analyse:
        runner = run_ray if executor == "ray" else run_local
        kwargs = {"address": ray_address} if executor == "ray" else {}
        runner(to_analyse, store, config, workers=max(1, workers), config_path=config_path, overrides=overrides,
               out_dir=out_dir, summary=summary, progress=progress, owner=new_owner(), stop=stop, **kwargs)


def parse_since(text: str | None, *, utc: bool = False) -> datetime | None:
    """A ``--since`` date or time. Calls are dated by the wall clock of their names or files, so an offset
    is dropped; with ``utc`` (times stored in UTC, as reviews are) the moment is converted to UTC instead."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise AudioQAError(f"--since {text!r}: expected a date such as 2026-11-27 or 2026-11-27T18:00") from None
    if utc and moment.tzinfo:
        moment = moment.astimezone(timezone.utc)
    return moment.replace(tzinfo=None)
