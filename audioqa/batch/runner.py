"""The nightly batch: every recording under the inputs through the same pipeline as ``analyze``.

Resumable and idempotent: a call already done with the same audio (content hash) and the same analysis
settings is skipped; if only the rule packs changed, its stored report is re-scored without
re-transcribing; calls left running by a killed batch are picked up again. Workers are processes that
load the models once; only the parent writes to the database, one transaction per call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..audio import decode_audio
from ..config import load_config
from ..errors import AudioQAError
from ..output import render_index, write_atomic, write_call_page
from ..output.report import write_report_data
from ..scoring import check_packs, rescore_report
from .executors import Progress, Summary, run_local, run_ray
from .export import collect
from .plan import Job, discover, plan
from .store import Store

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
    summary = Summary()
    started = time.perf_counter()
    for job in jobs:
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
            data = rescore_report(data, pack) if pack else data
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
               out_dir=out_dir, summary=summary, progress=progress, **kwargs)
    summary.processing_s = time.perf_counter() - started
    if config.report.html:
        rows, _ = collect(store, redact=False)
        write_atomic(out_dir / "index.html", render_index(rows, title=f"audioqa: {len(rows)} calls"))
    return summary


def parse_since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise AudioQAError(f"--since {text!r}: expected a date such as 2026-11-27 or 2026-11-27T18:00") from None
