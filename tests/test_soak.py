"""Soak: a nightly batch that is killed, restarted and loses workers still ends with every good call done
exactly once and every broken file failed with its reason. Run by ``make soak`` (not in ``make test``):
it analyses a few hundred short calls with the real models and takes several minutes.

Settings come from the environment: AUDIOQA_SOAK_CALLS (default 200), AUDIOQA_SOAK_SEED (default 1).
Figures (calls, kills, time, peak memory of the batch and its workers) go to stdout and to soak.json in
the test's folder.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from .conftest import sample_path
from .test_batch import CONFIG, alive, gone_within, rows, start_batch, workers_of

pytestmark = pytest.mark.soak

SOURCES = ("en_support_stereo_8k", "zh_complaint_stereo", "en_complaint_mono", "zh_complaint_mono")


def make_calls(folder: Path, n: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """``n`` recordings, 5 % of them broken: (good names, broken names). Good ones are 4-8 s cuts of the
    sample calls at varied offsets and levels, so every one has its own audio."""
    folder.mkdir(parents=True)
    decoded = {s: sf.read(sample_path(s), dtype="float32") for s in SOURCES}
    n_bad = max(1, round(n * 0.05))
    good, bad = [], []
    for i in range(n - n_bad):
        samples, rate = decoded[SOURCES[i % len(SOURCES)]]
        length = int(rng.uniform(4, 8) * rate)
        begin = rng.randrange(0, len(samples) - length)
        name = f"20261202{i:06d}_A{i % 7:03d}_soak_call{i:04d}.wav"
        sf.write(folder / name, samples[begin:begin + length] * rng.uniform(0.3, 1.0), rate, subtype="PCM_16")
        good.append(name)
    whole = sample_path("zh_complaint_stereo").read_bytes()
    kinds = [b"", whole[:5000], b"RIFF" + bytes(rng.randrange(256) for _ in range(3000)),
             whole[:24] + (1).to_bytes(4, "little") + whole[28:60000]]  # empty, truncated, noise, 1 Hz header
    for i in range(n_bad):
        name = f"20261202{900000 + i:06d}_A000_soak_broken{i:03d}.wav"
        (folder / name).write_bytes(kinds[i % len(kinds)])
        bad.append(name)
    return good, bad


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            stack += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 2**20


def done_count(url: str) -> int:
    try:
        return sum(r["status"] == "done" for r in rows(url, "calls"))
    except Exception:  # the store is being created
        return 0


def test_a_batch_killed_three_times_and_losing_two_workers_loses_and_duplicates_nothing(tmp_path):
    n = int(os.environ.get("AUDIOQA_SOAK_CALLS", "200"))
    seed = int(os.environ.get("AUDIOQA_SOAK_SEED", "1"))
    rng = random.Random(seed)
    inputs, out = tmp_path / "in", tmp_path / "out"
    good, bad = make_calls(inputs, n, rng)
    config_file = tmp_path / "site.yaml"
    config_file.write_text(CONFIG)
    url = f"sqlite:///{out / 'audioqa.db'}"

    started, peak_mib, runs = time.time(), 0.0, []
    batch_kills, worker_kills = 3, 2
    # the batch is killed (kill -9) when the number of done calls reaches each of these marks
    kill_at = sorted(rng.sample(range(n // 10, 8 * n // 10), batch_kills))
    worker_kill_at = sorted(rng.sample(range(n // 10, 9 * n // 10), worker_kills))
    while True:
        process = start_batch(inputs, out, config_file, "--workers", "2")
        outcome = "finished"
        while process.poll() is None:
            time.sleep(0.5)
            peak_mib = max(peak_mib, tree_rss_mib(process.pid))
            done = done_count(url)
            if kill_at and done >= kill_at[0]:
                kill_at.pop(0)
                workers = workers_of(process.pid)
                process.kill()
                process.wait()
                assert gone_within(workers, 30), "workers outlived their batch"
                outcome = f"batch killed at {done} done"
                break
            if worker_kill_at and done >= worker_kill_at[0]:
                workers = [w for w in workers_of(process.pid) if alive(w)]
                if workers:
                    worker_kill_at.pop(0)
                    os.kill(rng.choice(workers), signal.SIGKILL)
                    runs.append(f"worker killed at {done} done")
        stdout, stderr = process.communicate()
        runs.append(outcome if outcome != "finished" else f"finished, exit {process.returncode}")
        if outcome == "finished":
            break
        assert len(runs) < 20, runs

    elapsed_s = time.time() - started
    calls = {Path(r["path"]).name: r for r in rows(url, "calls")}
    figures = {"calls": n, "good": len(good), "broken": len(bad), "seed": seed, "runs": runs,
               "batch_kills": batch_kills, "worker_kills": worker_kills, "elapsed_s": round(elapsed_s),
               "peak_rss_mib": round(peak_mib),
               "attempts": dict(sorted(zip(*np.unique([r["attempts"] for r in calls.values()], return_counts=True)))) }
    figures["attempts"] = {int(k): int(v) for k, v in figures["attempts"].items()}
    print(json.dumps(figures))
    (tmp_path / "soak.json").write_text(json.dumps(figures, indent=1))

    assert process.returncode == 1, stdout + stderr  # the broken files fail the night, and only they do
    assert sorted(calls) == sorted(good + bad)
    assert all(calls[name]["status"] == "done" for name in good), [calls[g] for g in good if calls[g]["status"] != "done"]
    assert all(calls[name]["status"] == "failed" and calls[name]["error"] for name in bad)
    assert all("\n" not in calls[name]["error"] for name in bad)
    done = [r for r in calls.values() if r["status"] == "done"]
    for r in done:  # each report on disk is the one the database holds: analysed once, stored once
        report = json.loads((out / f"{r['call_id']}.json").read_text())
        assert report["source"]["sha256"] == r["content_sha256"]
    assert len(rows(url, "reports")) == len(rows(url, "scores")) == len(done) == len(good)
    assert len(rows(url, "events")) == sum(len(json.loads((out / f"{r['call_id']}.json").read_text())["events"])
                                           for r in done)
    assert not list(out.glob(".*.tmp"))
