"""Running the calls of a batch: worker processes (or Ray actors) that load the models once and analyse
one call at a time; the parent records each result in the store, one transaction per call."""

from __future__ import annotations

import logging
import math
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..config import Config, load_config
from ..errors import AudioError, AudioQAError
from .plan import Job
from .store import Store

@dataclass
class Summary:
    """What a batch did: call ids analysed, re-scored and skipped; failed paths with their reasons; paths
    ignored because their names are not audio file names (not failures)."""

    analysed: list[str] = field(default_factory=list)
    rescored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    audio_ms: int = 0
    processing_s: float = 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


_worker: dict[str, Any] = {}


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


def run_local(jobs: list[Job], store: Store, config: Config, *, workers: int, config_path: str | None,
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


def run_ray(jobs: list[Job], store: Store, config: Config, *, workers: int, config_path: str | None,
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
