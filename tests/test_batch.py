"""The nightly batch: bad files fail alone, reruns resume and duplicate nothing, exports for QA tools.

Batches run as real subprocesses (``python -m audioqa batch``) with the real models, on short cuts of
the sample calls, against SQLite, a real PostgreSQL server, and a local Ray instance.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
import sqlalchemy as sa

from .conftest import sample_path

pytestmark = pytest.mark.slow

GOOD = ("en_support_stereo_8k", "en_complaint_mono")


def make_inputs(folder: Path, *, good: int = 2, bad: bool = True) -> Path:
    """Short good calls (12 s cuts of the samples, named by the filename pattern) and broken files."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(good):
        source = GOOD[i % len(GOOD)]
        samples, rate = sf.read(sample_path(source), dtype="float32")
        name = f"20261127{183000 + i:06d}_A{i % 2:03d}_billing_call{i:03d}.flac"
        sf.write(folder / name, samples[: 12 * rate], rate)
    if bad:
        (folder / "empty.wav").write_bytes(b"")
        whole = sample_path("zh_complaint_stereo").read_bytes()
        (folder / "truncated.wav").write_bytes(whole[:200000])
        (folder / "notes.txt").write_text("not a recording\n")
        (folder / "fake.mp3").write_bytes(b"ID3 but not really an mp3" * 100)
        (folder / os.fsdecode(b"caller\xff\xfe.wav")).write_bytes(whole[:100])
    return folder


def run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audioqa", "batch", *args], capture_output=True, text=True,
                          timeout=timeout, errors="replace")


CONFIG = "batch:\n  filename_pattern: '(?P<start_time>\\d{14})_(?P<agent_id>[^_]+)_(?P<queue>[^_]+)_(?P<call_id>\\w+)'\n"


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(CONFIG)
    return path


def rows(url: str, table: str) -> list[dict]:
    engine = sa.create_engine(url)
    with engine.connect() as c:
        out = [dict(r) for r in c.execute(sa.text(f"SELECT * FROM {table}")).mappings()]
    engine.dispose()
    return out


def check_complete(url: str, out: Path, n_good: int = 2) -> None:
    calls = {r["call_id"]: r for r in rows(url, "calls")}
    done = [r for r in calls.values() if r["status"] == "done"]
    assert len(done) == n_good
    for r in done:
        report = json.loads((out / f"{r['call_id']}.json").read_text())
        assert report["source"]["sha256"] == r["content_sha256"]
        assert r["agent_id"] in ("A000", "A001") and r["queue"] == "billing"
    events = rows(url, "events")
    expected = sum(len(json.loads((out / f"{r['call_id']}.json").read_text())["events"]) for r in done)
    assert len(events) == expected  # nothing duplicated
    assert len(rows(url, "reports")) == len(rows(url, "scores")) == n_good
    assert not [r for r in calls.values() if r["status"] in ("running", "pending")]
    assert not glob.glob(str(out / ".*.tmp"))


def check_failures(result: subprocess.CompletedProcess, url: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    failed = {r["path"]: r["error"] for r in rows(url, "calls") if r["status"] == "failed"}
    assert len(failed) == 4
    reasons = " | ".join(failed.values())
    for expected in ("empty file", "truncated", "fake.mp3", "not valid UTF-8"):
        assert expected in reasons
    assert all("\n" not in reason for reason in failed.values())


def test_batch_finishes_good_calls_fails_bad_ones_and_reruns_idempotently(tmp_path, config_file):
    inputs, out = make_inputs(tmp_path / "in"), tmp_path / "out"
    url = f"sqlite:///{out / 'audioqa.db'}"
    first = run(str(inputs), "--out", str(out), "--config", str(config_file), "--workers", "2")
    check_failures(first, url)
    check_complete(url, out)
    assert "done 2" in first.stdout and "failed 4" in first.stdout
    assert "ignored: 1 file(s)" in first.stderr and "notes.txt" in first.stderr  # a README is not a failure

    before = (rows(url, "events"), rows(url, "rule_results"))
    second = run(str(inputs), "--out", str(out), "--config", str(config_file))
    assert second.returncode == 1
    assert "done 0, re-scored 0, skipped 2, failed 4" in second.stdout
    assert (rows(url, "events"), rows(url, "rule_results")) == before

    # a changed rule pack re-scores the stored reports without re-transcribing
    pack = tmp_path / "tiny.yaml"
    pack.write_text("rules:\n  - {id: greet, category: c, severity: minor, weight: 1, "
                    "pass_if: {said: {phrases: [thank you for calling]}}}\n")
    config_file.write_text(CONFIG + f"rules:\n  packs: {{en: {pack}, zh: {pack}}}\n")
    third = run(str(inputs), "--out", str(out), "--config", str(config_file))
    assert "done 0, re-scored 2" in third.stdout, third.stdout + third.stderr
    assert {r["rule_id"] for r in rows(url, "rule_results")} == {"greet"}
    assert "greet" in (out / "call000.html").read_text(encoding="utf-8")  # the page shows the new scorecard
    check_complete(url, out)


def test_what_cannot_be_a_recording_fails_with_its_reason_and_a_readme_is_ignored(tmp_path, config_file):
    inputs, out = tmp_path / "in", tmp_path / "out"
    (inputs / "x.wav").mkdir(parents=True)
    (inputs / "dangling.wav").symlink_to(inputs / "gone.wav")
    (inputs / "loop1.wav").symlink_to(inputs / "loop2.wav")
    (inputs / "loop2.wav").symlink_to(inputs / "loop1.wav")
    (inputs / "README.txt").write_text("tonight's calls\n")
    result = run(str(inputs), "--out", str(out), "--config", str(config_file))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failed 4" in result.stdout
    for expected in ("x.wav: a folder, not a recording", "dangling.wav: a dangling link: its target is missing",
                     "loop1.wav: a symbolic link loop", "loop2.wav: a symbolic link loop"):
        assert expected in result.stderr
    assert "README.txt" in result.stderr and "ignored: 1 file(s)" in result.stderr

    (inputs / "x.wav").rmdir()
    for link in ("dangling.wav", "loop1.wav", "loop2.wav"):
        (inputs / link).unlink()
    rerun = run(str(inputs), "--out", str(out), "--config", str(config_file))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr  # a README alone never fails a night


def start_batch(inputs: Path, out: Path, config_file: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "audioqa", "batch", str(inputs), "--out", str(out),
                             "--config", str(config_file), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(url: str, condition, timeout_s: float = 300) -> list[dict]:
    """Poll the store until ``condition(rows of calls)`` holds."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        time.sleep(0.3)
        try:
            calls = rows(url, "calls")
        except sa.exc.OperationalError:  # not created yet
            continue
        if condition(calls):
            return calls
    raise AssertionError(f"store never reached the expected state: {calls}")


def workers_of(pid: int) -> list[int]:
    """The batch's worker processes (spawned interpreters, not multiprocessing's resource tracker)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            found.append(int(child))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    return not any(alive(p) for p in pids)


def test_batch_killed_midway_resumes_with_nothing_lost_or_duplicated(tmp_path, config_file):
    inputs, out = make_inputs(tmp_path / "in", good=4, bad=False), tmp_path / "out"
    url = f"sqlite:///{out / 'audioqa.db'}"
    process = start_batch(inputs, out, config_file)
    wait_for(url, lambda calls: any(r["status"] == "done" for r in calls))
    workers = workers_of(process.pid)
    process.kill()  # the batch process alone, as the OOM killer would: its workers must not live on
    process.wait()
    assert workers and gone_within(workers, 30)
    assert 1 <= sum(r["status"] == "done" for r in rows(url, "calls")) < 4
    rerun = run(str(inputs), "--out", str(out), "--config", str(config_file))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    check_complete(url, out, n_good=4)


def test_a_dead_worker_fails_only_its_call_which_is_retried_in_a_fresh_worker(tmp_path, config_file):
    inputs, out = make_inputs(tmp_path / "in", good=4, bad=False), tmp_path / "out"
    url = f"sqlite:///{out / 'audioqa.db'}"
    process = start_batch(inputs, out, config_file, "--workers", "2")
    wait_for(url, lambda calls: sum(r["status"] == "running" for r in calls) == 2)
    victim = workers_of(process.pid)[0]
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stdout + stderr
    check_complete(url, out, n_good=4)
    attempts = sorted(r["attempts"] for r in rows(url, "calls"))
    assert attempts == [1, 1, 1, 2]  # only the call the dead worker held was tried again


def test_sigterm_stops_the_batch_cleanly_and_a_rerun_finishes(tmp_path, config_file):
    inputs, out = make_inputs(tmp_path / "in", good=4, bad=False), tmp_path / "out"
    url = f"sqlite:///{out / 'audioqa.db'}"
    process = start_batch(inputs, out, config_file, "--workers", "2")
    wait_for(url, lambda calls: any(r["status"] == "done" for r in calls)
             and any(r["status"] == "running" for r in calls))
    workers = workers_of(process.pid)
    process.terminate()
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stdout + stderr
    assert "stopped: by SIGTERM" in stderr
    assert workers and gone_within(workers, 5)  # the workers ended with the batch
    calls = rows(url, "calls")
    assert {r["status"] for r in calls} <= {"done", "pending"} and any(r["status"] == "pending" for r in calls)
    assert all(r["attempts"] <= 1 for r in calls)  # the interrupted attempt is not counted against the call
    assert not glob.glob(str(out / ".*.tmp"))
    rerun = run(str(inputs), "--out", str(out), "--config", str(config_file))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    check_complete(url, out, n_good=4)


def test_batch_against_postgresql(tmp_path, config_file, postgres_url):
    inputs, out = make_inputs(tmp_path / "in"), tmp_path / "out"
    first = run(str(inputs), "--out", str(out), "--db", postgres_url, "--config", str(config_file))
    check_failures(first, postgres_url)
    check_complete(postgres_url, out)
    second = run(str(inputs), "--out", str(out), "--db", postgres_url, "--config", str(config_file))
    assert "skipped 2, failed 4" in second.stdout
    check_complete(postgres_url, out)


def test_batch_on_a_local_ray_instance(tmp_path, config_file):
    inputs, out = make_inputs(tmp_path / "in"), tmp_path / "out"
    url = f"sqlite:///{out / 'audioqa.db'}"
    result = run(str(inputs), "--out", str(out), "--config", str(config_file), "--executor", "ray", "--workers", "1")
    check_failures(result, url)
    check_complete(url, out)


def test_exports_open_in_pandas_and_pyarrow(tmp_path, config_file):
    import pandas as pd
    import pyarrow.parquet as pq

    inputs, out = make_inputs(tmp_path / "in", bad=False), tmp_path / "out"
    assert run(str(inputs), "--out", str(out), "--config", str(config_file)).returncode == 0
    db = f"sqlite:///{out / 'audioqa.db'}"
    for fmt in ("csv", "parquet", "jsonl"):
        target = tmp_path / f"calls.{fmt}"
        result = subprocess.run([sys.executable, "-m", "audioqa", "export", "--db", db, "--format", fmt,
                                 "--out", str(target)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        frame = {"csv": pd.read_csv, "parquet": pd.read_parquet,
                 "jsonl": lambda p: pd.read_json(p, lines=True)}[fmt](target)
        assert len(frame) == 2 and set(frame["agent_id"]) == {"A000", "A001"}
        for column in ("call_id", "score", "fatal", "flags", "agent_talk_s", "events_customer_agitation",
                       "rule_greeting"):
            assert column in frame.columns
        assert (tmp_path / f"calls.events.{fmt}").exists()
    assert pq.read_table(tmp_path / "calls.parquet").num_rows == 2
    agents = tmp_path / "agents.csv"
    subprocess.run([sys.executable, "-m", "audioqa", "export", "--db", db, "--by", "agent", "--out", str(agents)],
                   check=True, capture_output=True)
    by_agent = pd.read_csv(agents)
    assert sorted(by_agent["agent_id"]) == ["A000", "A001"] and by_agent["calls"].sum() == 2
    assert {"nights", "first_night", "last_night", "score_trend_per_day"} <= set(by_agent.columns)
    nights = pd.read_csv(tmp_path / "agents.nights.csv")
    assert nights["calls"].sum() == 2 and {"agent_id", "night", "mean_score"} <= set(nights.columns)


def test_a_long_call_gets_time_in_proportion_to_its_length():
    from audioqa.batch.executors import call_timeout_s

    assert call_timeout_s(5 * 60_000, 900, 3.0) == 900  # a 5-minute call: the fixed timeout
    assert call_timeout_s(3 * 3_600_000, 900, 3.0) == 32_400  # a 3-hour call: 3 s per second of audio


def test_per_agent_export_shows_each_agents_nights_and_the_scores_trend():
    from audioqa.batch.export import by_agent, by_agent_night, call_night
    from audioqa.records import EVENT_TYPES

    def row(agent: str, night: str, score: float, agitation: float, agitated: int) -> dict:
        return {"agent_id": agent, "night": night, "duration_s": 600.0, "score": score, "passed": score >= 60,
                "fatal": False, "agitation_score": agitation,
                **{f"events_{t}": agitated if t == "customer_agitation" else 0 for t in EVENT_TYPES}}

    rows = [row("A1", "2026-11-30", 80, 0.2, 0), row("A1", "2026-11-30", 60, 0.4, 1),
            row("A1", "2026-12-01", 60, 0.5, 1), row("A1", "2026-12-02", 50, 0.6, 2), row("B2", "2026-12-01", 90, 0.1, 0)]
    nights = by_agent_night(rows)
    assert [(n["agent_id"], n["night"], n["calls"], n["mean_score"]) for n in nights] == [
        ("A1", "2026-11-30", 2, 70.0), ("A1", "2026-12-01", 1, 60.0), ("A1", "2026-12-02", 1, 50.0),
        ("B2", "2026-12-01", 1, 90.0)]
    agents = {a["agent_id"]: a for a in by_agent(rows)}
    assert agents["A1"]["nights"] == 3 and agents["A1"]["first_night"] == "2026-11-30"
    assert agents["A1"]["score_trend_per_day"] == -10.0  # 70, 60, 50 over three days
    assert agents["A1"]["events_customer_agitation"] == 4 and agents["B2"]["score_trend_per_day"] is None
    assert call_night({"start_time": "20261127183000"}) == "2026-11-27"
    assert call_night({"start_time": None, "updated_at": "2026-12-02T03:00:00+00:00"}) == "2026-12-02"
