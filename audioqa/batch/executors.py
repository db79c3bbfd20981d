"""Running the calls of a batch: worker processes (or Ray actors) that load the models once and analyse
one call at a time; the parent records each result in the store, one transaction per call."""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as connection_wait
from pathlib import Path
from typing import Any

from ..config import Config, load_config
from ..errors import AudioError, AudioQAError
from .plan import Job
from .store import Store

@dataclass
class Summary:
    """What a batch did: call ids analysed, re-scored, skipped (already done) and left to another batch
    that holds them; failed paths with their reasons; paths ignored because their names are not audio
    file names (not failures); the signal that stopped it, if one did."""

    analysed: list[str] = field(default_factory=list)
    rescored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    audio_ms: int = 0
    processing_s: float = 0.0
    stopped_by: int = 0

    @property
    def exit_code(self) -> int:
        if self.stopped_by:
            return 128 + self.stopped_by  # the shell's convention: 143 for SIGTERM, 130 for Ctrl-C
        return 1 if self.failed else 0


_worker: dict[str, Any] = {}  # this worker process's configuration and models


def init_worker(config_path: str | None, overrides: dict[str, Any], out_dir: str) -> None:
    """Load configuration and models in a worker process (once)."""
    from ..models import load_models

    logging.getLogger("faster_whisper").setLevel(logging.ERROR)
    config = load_config(config_path, overrides)
    models = load_models(config.models, config.diarization, lazy_diarization=True)  # stereo-only: no torch
    _worker.update(config=config, out_dir=out_dir, models=models)


class _Timeout(Exception):
    pass


def _alarm(_signum, _frame):
    raise _Timeout()


def call_timeout_s(duration_ms: int, timeout_s: int, per_audio_s: float) -> int:
    """Seconds a call may take: ``timeout_s``, or ``per_audio_s`` seconds per second of audio when
    that is longer (a 3-hour call must not be killed at the 15 minutes a 5-minute one needs)."""
    return max(timeout_s, math.ceil(duration_ms / 1000 * per_audio_s))


def run_call(path: str, call_id: str) -> dict[str, Any]:
    """Analyse one call in a worker and write its report files; never raises.

    Returns {"report": dict, "report_path": str} or {"error": one line, "permanent": bool}.
    """
    import dataclasses

    from ..output import write_call_page, write_report
    from ..pipeline import decode_and_analyze

    config: Config = _worker["config"]
    timeout_s = config.batch.timeout_s
    use_alarm = timeout_s > 0 and hasattr(signal, "SIGALRM")

    def on_stage(stage: str, value: Any) -> None:
        nonlocal timeout_s
        if stage == "decode" and use_alarm:  # now the length is known: a long call gets the time it needs
            timeout_s = call_timeout_s(value.duration_ms, config.batch.timeout_s, config.batch.timeout_per_audio_s)
            signal.alarm(timeout_s)

    try:
        if use_alarm:
            signal.signal(signal.SIGALRM, _alarm)
            signal.alarm(timeout_s)
        audio, report = decode_and_analyze(path, _worker["models"], config, hook=on_stage)
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


@dataclass
class Stop:
    """Set by the batch's SIGTERM / SIGINT handler: finish nothing new, hand running calls back."""

    signum: int = 0


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process
    conn: Connection
    job: Job | None = None
    attempt: int = 0


def _end_with_parent(parent_pid: int) -> None:
    """Ask Linux to send SIGTERM to this worker when the batch process dies (even by kill -9)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the batch's own SIGTERM handling still ends workers
        pass
    if os.getppid() != parent_pid:  # the batch died before the request took effect
        sys.exit(1)


def worker_main(conn: Connection, config_path: str | None, overrides: dict[str, Any], out_dir: str,
                parent_pid: int) -> None:
    """A worker process: load the models once, then analyse the calls the batch sends until told to stop."""
    _end_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the batch decides
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # unwinds: no stray temp files
    try:
        init_worker(config_path, overrides, out_dir)
        problem = ""
    except Exception as e:
        problem = f"the worker could not load the models: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send({"error": problem, "permanent": True} if problem else run_call(*task))


def _result_of(worker: _Worker) -> dict[str, Any] | None:
    """The busy worker's result, a "died" result when its process is gone, or None while it still works."""
    if worker.conn.poll():
        try:
            return worker.conn.recv()
        except (EOFError, OSError):
            pass
    elif worker.process.is_alive():
        return None
    worker.process.join()
    code = worker.process.exitcode
    how = f"killed by {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
    return {"error": f"worker process died ({how}; out of memory?)", "permanent": False, "died": True}


def _end_workers(pool: list[_Worker]) -> None:
    for worker in pool:
        if worker.process.is_alive():
            worker.process.terminate()
    for worker in pool:
        worker.process.join(timeout=10)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()


def run_local(jobs: list[Job], store: Store, config: Config, *, workers: int, config_path: str | None,
              overrides: dict[str, Any], out_dir: Path, summary: Summary, progress: Progress, owner: str,
              stop: Stop) -> None:
    """Analyse the jobs in ``workers`` processes, one call each at a time. A worker that dies fails only
    the call it held (retried in a fresh worker up to ``batch.max_attempts``); on ``stop`` the workers
    end and their calls go back to pending."""
    context = get_context("spawn")  # fresh interpreters: no fork of loaded models or threads
    queue, pool = deque(jobs), []
    lease_s, renewed = config.batch.lease_s, time.monotonic()

    def start_worker() -> _Worker:
        ours, theirs = context.Pipe()
        process = context.Process(target=worker_main, daemon=True, name="audioqa-worker",
                                  args=(theirs, config_path, overrides, str(out_dir), os.getpid()))
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        pool.append(worker)
        return worker

    try:
        while (queue or any(w.job for w in pool)) and not stop.signum:
            for worker in [w for w in pool if not w.job and not w.process.is_alive()]:
                pool.remove(worker)
            while queue and sum(bool(w.job) for w in pool) < workers:
                job = queue.popleft()
                attempt = store.claim(job.call, owner, lease_s)
                if attempt is None:  # another batch holds it, or finished it since we planned
                    summary.elsewhere.append(job.call["call_id"])
                    progress(job.call["call_id"], "skipped")
                    continue
                worker = next((w for w in pool if not w.job), None) or start_worker()
                worker.job, worker.attempt = job, attempt
                worker.conn.send((str(job.path), job.call["call_id"]))
            busy = [w for w in pool if w.job]
            connection_wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=1.0)
            for worker in busy:
                result = _result_of(worker)
                if result is None:
                    continue
                job, attempt, worker.job = worker.job, worker.attempt, None
                if result.pop("died", False):
                    pool.remove(worker)
                if _record(store, job, result, attempt, config.batch.max_attempts, summary, progress):
                    queue.append(job)
            if time.monotonic() - renewed > lease_s / 3:
                store.renew([w.job.call["call_id"] for w in pool if w.job], owner, lease_s)
                renewed = time.monotonic()
    finally:
        held = [w.job.call["call_id"] for w in pool if w.job]
        _end_workers(pool)
        store.release(held, owner)


def run_ray(jobs: list[Job], store: Store, config: Config, *, workers: int, config_path: str | None,
            overrides: dict[str, Any], out_dir: Path, summary: Summary, progress: Progress, owner: str,
            stop: Stop, address: str | None) -> None:
    """As :func:`run_local`, with Ray actors (on this machine or a cluster) instead of processes."""
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
    idle, queue, running = list(actors), deque(jobs), {}
    lease_s, renewed = config.batch.lease_s, time.monotonic()
    try:
        while (queue or running) and not stop.signum:
            while queue and idle:
                job = queue.popleft()
                attempt = store.claim(job.call, owner, lease_s)
                if attempt is None:
                    summary.elsewhere.append(job.call["call_id"])
                    progress(job.call["call_id"], "skipped")
                    continue
                actor = idle.pop()
                running[actor.run.remote(str(job.path), job.call["call_id"])] = (job, attempt, actor)
            done, _ = ray.wait(list(running), num_returns=1, timeout=1.0) if running else ([], [])
            for ref in done:
                job, attempt, actor = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as e:  # the actor died: replace it
                    result = {"error": f"ray worker failed: {type(e).__name__}", "permanent": False}
                    actor = Analyzer.remote()
                    actors.append(actor)
                idle.append(actor)
                if _record(store, job, result, attempt, config.batch.max_attempts, summary, progress):
                    queue.append(job)
            if time.monotonic() - renewed > lease_s / 3:
                store.renew([job.call["call_id"] for job, _, _ in running.values()], owner, lease_s)
                renewed = time.monotonic()
    finally:
        for actor in actors:
            ray.kill(actor)
        store.release([job.call["call_id"] for job, _, _ in running.values()], owner)
