"""The nightly batch: every recording under the inputs through the same pipeline as ``analyze``.

Resumable and idempotent: a call already done with the same audio (content hash) and the same analysis
settings is skipped; if only the rule packs changed, its stored report is re-scored without
re-transcribing; calls left running by a killed batch are picked up again. Workers are processes that
load the models once; only the parent writes to the database, one transaction per call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from .audio import sha256_file
from .config import Config, load_config
from .errors import AudioError, AudioQAError
from .report import rescore_report, write_atomic
from .store import DONE, FAILED, Store

logger = logging.getLogger("audioqa")


@dataclass
class Job:
    path: Path
    call: dict[str, Any]
    action: str  # analyze | rescore | skip | fail
    reason: str = ""


@dataclass
class Summary:
    analysed: list[str] = field(default_factory=list)
    rescored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    audio_ms: int = 0
    processing_s: float = 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def config_hashes(config: Config) -> tuple[str, str]:
    """(hash of every setting that changes the analysis, hash of the rule packs' contents)."""
    settings = config.model_dump()
    settings.pop("rules")
    settings.pop("batch")
    analysis = hashlib.sha256(json.dumps(settings, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    rules = hashlib.sha256()
    for language in sorted(config.rules.packs):
        path = config.rules.pack_path(language)
        rules.update(language.encode() + (path.read_bytes() if path and path.is_file() else b""))
    return analysis, rules.hexdigest()


def discover(inputs: Sequence[Path], *, pattern: str = "*") -> list[Path]:
    """Regular files under the inputs (recursively), matching a glob, hidden files and folders left out."""
    found = []
    for root in inputs:
        if root.is_file():
            found.append(root)
            continue
        if not root.is_dir():
            raise AudioQAError(f"{root}: no such file or directory")
        for path in root.rglob(pattern):
            relative = path.relative_to(root).parts
            if path.is_file() and not any(part.startswith(".") for part in relative):
                found.append(path)
    return sorted(set(found), key=lambda p: os.fsencode(p))


def metadata_from_name(path: Path, pattern: str | None) -> dict[str, str]:
    """Named groups of ``pattern`` (call_id, agent_id, start_time, queue, …) matched against the file stem."""
    if not pattern:
        return {}
    match = re.search(pattern, path.stem)
    return {k: v for k, v in match.groupdict().items() if v is not None} if match else {}


def _start_time(value: str | None) -> datetime | None:
    if not value:
        return None
    for fmt in ("%Y%m%d%H%M%S", "%Y%m%d-%H%M%S", "%Y-%m-%dT%H:%M:%S", "%Y%m%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


def plan(paths: Iterable[Path], store: Store, config: Config, *, since: datetime | None = None) -> list[Job]:
    """Decide, for every file, whether to analyse, re-score, skip or fail it (and why)."""
    analysis_hash, rules_hash = config_hashes(config)
    options = config.batch
    jobs, taken = [], {}
    for path in paths:
        try:
            name = os.fsencode(path).decode("utf-8")
        except UnicodeDecodeError:
            shown = os.fsencode(path).decode("utf-8", "backslashreplace")
            jobs.append(Job(path, {"call_id": Path(shown).stem, "path": shown}, "fail",
                            "file name is not valid UTF-8: rename the file"))
            continue
        meta = metadata_from_name(path, options.filename_pattern)
        started = _start_time(meta.get("start_time"))
        if since and (started or datetime.fromtimestamp(path.stat().st_mtime)) < since:
            continue
        call_id = meta.get("call_id") or path.stem
        if call_id in taken and taken[call_id] != name:  # same stem in two folders: keep both apart
            call_id = f"{call_id}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
        taken[call_id] = name
        call = {"call_id": call_id, "path": name, "content_sha256": "", "analysis_hash": analysis_hash,
                "rules_hash": rules_hash, "agent_id": meta.get("agent_id"), "queue": meta.get("queue"),
                "start_time": meta.get("start_time"), "call_metadata": meta}
        if path.suffix.lower() not in options.extensions:
            jobs.append(Job(path, call, "fail", f"unsupported extension {path.suffix or '(none)'!r}"))
            continue
        call["content_sha256"] = sha256_file(path)
        row = store.get(call_id)
        same_input = row and row["content_sha256"] == call["content_sha256"] and row["analysis_hash"] == analysis_hash
        if same_input and row["status"] == DONE:
            jobs.append(Job(path, call, "skip" if row["rules_hash"] == rules_hash else "rescore"))
        elif same_input and row["status"] == FAILED and row["attempts"] >= options.max_attempts:
            jobs.append(Job(path, call, "skip", row["error"] or "failed"))
        else:
            jobs.append(Job(path, call, "analyze"))
    return jobs


# ---- worker side: one process, models loaded once --------------------------------------------------

_worker: dict[str, Any] = {}


def init_worker(config_path: str | None, overrides: dict[str, Any], out_dir: str) -> None:
    """Load configuration and models in a worker process (once)."""
    from .models import load_models

    logging.getLogger("faster_whisper").setLevel(logging.ERROR)
    config = load_config(config_path, overrides)
    models = load_models(config.models, config.diarization, lazy_diarization=True)  # stereo-only: no torch
    _worker.update(config=config, out_dir=out_dir, models=models)


class _Timeout(Exception):
    pass


def _alarm(_signum, _frame):
    raise _Timeout()


def run_call(path: str, call_id: str) -> dict[str, Any]:
    """Analyse one call in a worker and write its report files; never raises.

    Returns {"report": dict, "report_path": str} or {"error": one line, "permanent": bool}.
    """
    import dataclasses

    from .html import write_call_page
    from .pipeline import decode_and_analyze
    from .report import write_report

    config: Config = _worker["config"]
    timeout_s = config.batch.timeout_s
    use_alarm = timeout_s > 0 and hasattr(signal, "SIGALRM")
    try:
        if use_alarm:
            signal.signal(signal.SIGALRM, _alarm)
            signal.alarm(timeout_s)
        audio, report = decode_and_analyze(path, _worker["models"], config)
        report = dataclasses.replace(report, call_id=call_id)
        data = report.to_dict()
        if config.report.html:
            write_call_page(data, Path(_worker["out_dir"]), samples=audio.samples)
        written = write_report(report, _worker["out_dir"])  # JSON last: the call's files are complete
        return {"report": data, "report_path": str(written[-1])}
    except _Timeout:
        return {"error": f"timed out after {timeout_s} s", "permanent": False}
    except AudioError as e:
        return {"error": str(e), "permanent": True}
    except AudioQAError as e:
        return {"error": str(e), "permanent": True}
    except Exception as e:  # one call's crash must not take the batch down
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", "permanent": False}
    finally:
        if use_alarm:
            signal.alarm(0)


# ---- parent side ----------------------------------------------------------------------------------

Progress = Callable[[str, str], None]  # (call_id, outcome)


def _record(store: Store, job: Job, result: dict[str, Any], attempt: int, max_attempts: int,
            summary: Summary, progress: Progress) -> bool:
    """Store one worker result; returns True when the call should be tried again."""
    if "report" in result:
        store.finish(job.call, result["report"], result["report_path"])
        summary.analysed.append(job.call["call_id"])
        summary.audio_ms += result["report"]["source"]["duration_ms"]
        progress(job.call["call_id"], "done")
        return False
    retry = not result["permanent"] and attempt < max_attempts
    store.fail(job.call, result["error"], final=not retry)
    if not retry:
        summary.failed[job.call["path"]] = result["error"]
        progress(job.call["call_id"], "failed")
    return retry


def _run_local(jobs: list[Job], store: Store, config: Config, *, workers: int, config_path: str | None,
               overrides: dict[str, Any], out_dir: Path, summary: Summary, progress: Progress) -> None:
    queue = list(jobs)
    max_attempts = config.batch.max_attempts
    while queue:
        context = get_context("spawn")  # fresh interpreters: no fork of loaded models or threads
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=init_worker,
                                     initargs=(config_path, overrides, str(out_dir))) as pool:
                running: dict[Any, tuple[Job, int]] = {}
                while queue or running:
                    while queue and len(running) < 2 * workers:  # a small backlog keeps workers busy
                        job = queue.pop(0)
                        attempt = store.start(job.call)
                        running[pool.submit(run_call, str(job.path), job.call["call_id"])] = (job, attempt)
                    finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in finished:
                        job, attempt = running.pop(future)
                        if _record(store, job, future.result(), attempt, max_attempts, summary, progress):
                            queue.append(job)
        except BrokenProcessPool:
            # a worker died (out of memory, a crash in native code): what it held is retried or failed
            for job, attempt in running.values():
                result = {"error": "worker process died", "permanent": False}
                if _record(store, job, result, attempt, max_attempts, summary, progress):
                    queue.append(job)


def _run_ray(jobs: list[Job], store: Store, config: Config, *, workers: int, config_path: str | None,
             overrides: dict[str, Any], out_dir: Path, summary: Summary, progress: Progress,
             address: str | None) -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 **({} if address else {"num_cpus": workers}))

    @ray.remote(num_cpus=1)
    class Analyzer:
        def __init__(self) -> None:
            init_worker(config_path, overrides, str(out_dir))

        def run(self, path: str, call_id: str) -> dict[str, Any]:
            return run_call(path, call_id)

    actors = [Analyzer.remote() for _ in range(workers)]
    idle, queue, running = list(actors), list(jobs), {}
    max_attempts = config.batch.max_attempts
    try:
        while queue or running:
            while queue and idle:
                job, actor = queue.pop(0), idle.pop()
                running[actor.run.remote(str(job.path), job.call["call_id"])] = (job, store.start(job.call), actor)
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                job, attempt, actor = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as e:  # the actor died: replace it
                    result = {"error": f"ray worker failed: {type(e).__name__}", "permanent": False}
                    actor = Analyzer.remote()
                idle.append(actor)
                if _record(store, job, result, attempt, max_attempts, summary, progress):
                    queue.append(job)
    finally:
        for actor in actors:
            ray.kill(actor)


def run_batch(inputs: Sequence[Path], out_dir: Path, store: Store, *, config_path: str | None = None,
              overrides: dict[str, Any] | None = None, workers: int = 1, executor: str = "local",
              glob: str = "*", since: datetime | None = None, ray_address: str | None = None,
              progress: Progress | None = None, on_plan: Callable[[list[Job]], None] | None = None) -> Summary:
    """Run a batch; see the module docstring. Raises AudioQAError when it cannot run at all."""
    overrides = overrides or {}
    config = load_config(config_path, overrides)
    progress = progress or (lambda call_id, outcome: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    requeued = store.requeue_interrupted()
    if requeued:
        logger.warning("%d call(s) left running by an interrupted batch will be analysed again", requeued)
    jobs = plan(discover(inputs, pattern=glob), store, config, since=since)
    if on_plan:
        on_plan(jobs)
    summary = Summary()
    started = time.perf_counter()
    for job in jobs:
        if job.action == "skip":
            (summary.failed.__setitem__(job.call["path"], job.reason) if job.reason else
             summary.skipped.append(job.call["call_id"]))
            progress(job.call["call_id"], "failed" if job.reason else "skipped")
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
            write_atomic(report_path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
            if config.report.html:  # the page shows the scorecard: refresh it (decoding only, no ASR)
                from .audio import decode_audio
                from .html import write_call_page

                write_call_page(data, out_dir, samples=decode_audio(job.path).samples)
            store.finish(job.call, data, str(report_path))
            summary.rescored.append(job.call["call_id"])
            progress(job.call["call_id"], "rescored")
    to_analyse = [j for j in jobs if j.action == "analyze"]
    if to_analyse:
        runner = _run_ray if executor == "ray" else _run_local
        kwargs = {"address": ray_address} if executor == "ray" else {}
        runner(to_analyse, store, config, workers=max(1, workers), config_path=config_path, overrides=overrides,
               out_dir=out_dir, summary=summary, progress=progress, **kwargs)
    summary.processing_s = time.perf_counter() - started
    if config.report.html:
        from .export import collect
        from .html import render_index

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

