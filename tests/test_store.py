"""The results store and batch planning: leases keep concurrent batches apart, and a call's identity
survives the same file name on two nights. Fast: no models, a SQLite file per test."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import sqlalchemy as sa

from audioqa.batch.plan import plan
from audioqa.batch.store import DONE, PENDING, RUNNING, Store, new_owner
from audioqa.config import load_config


def a_call(call_id: str = "call001", sha: str = "a" * 64) -> dict:
    return {"call_id": call_id, "path": f"/night1/{call_id}.wav", "content_sha256": sha, "analysis_hash": "h",
            "rules_hash": "r", "agent_id": None, "queue": None, "start_time": None, "call_metadata": {}}


def test_a_call_held_by_a_live_batch_cannot_be_claimed_by_another(tmp_path):
    url = f"sqlite:///{tmp_path / 'audioqa.db'}"
    first, second = Store(url), Store(url)
    assert first.claim(a_call(), "host:1:a", lease_s=300) == 1
    assert second.claim(a_call(), "host:2:b", lease_s=300) is None
    assert first.get("call001")["status"] == RUNNING and first.get("call001")["lease_owner"] == "host:1:a"


def test_a_lease_that_ran_out_is_free_to_take():
    store = Store("sqlite://")
    store.claim(a_call(), "elsewhere:1:a", lease_s=300)
    with store.atomic() as c:
        c.execute(sa.text("UPDATE calls SET lease_until = '2000-01-01T00:00:00+00:00'"))
    assert store.claim(a_call(), "elsewhere:2:b", lease_s=300) == 2


def test_many_batches_racing_for_the_same_calls_take_each_exactly_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'audioqa.db'}"
    taken: list[tuple[str, str]] = []

    def batch(name: str) -> None:
        store = Store(url)
        for i in range(30):
            if store.claim(a_call(f"call{i:03d}"), name, lease_s=300):
                taken.append((name, f"call{i:03d}"))

    threads = [threading.Thread(target=batch, args=(f"host:{n}:x",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(call for _, call in taken) == [f"call{i:03d}" for i in range(30)]


def test_a_done_call_is_not_claimed_again_unless_its_audio_or_settings_changed():
    store = Store("sqlite://")
    store.claim(a_call(), "host:1:a", lease_s=300)
    store.finish(a_call(), {"source": {"duration_ms": 1000}, "events": [], "rules": []}, "r.json")
    assert store.get("call001")["status"] == DONE and store.get("call001")["lease_owner"] is None
    assert store.claim(a_call(), "host:2:b", lease_s=300) is None
    assert store.claim(a_call(sha="b" * 64), "host:2:b", lease_s=300) == 2


def test_stopping_gives_the_calls_back_without_counting_the_attempt():
    store = Store("sqlite://")
    store.claim(a_call(), "host:1:a", lease_s=300)
    assert store.release(["call001"], "host:2:other") == 0  # only the holder can give a call back
    assert store.release(["call001"], "host:1:a") == 1
    row = store.get("call001")
    assert (row["status"], row["attempts"], row["lease_owner"]) == (PENDING, 0, None)


def test_calls_of_a_killed_batch_are_requeued_but_a_live_batchs_are_not():
    store = Store("sqlite://")
    store.claim(a_call("mine"), new_owner(), lease_s=300)  # this process: alive
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket
    store.claim(a_call("orphan"), f"{socket.gethostname()}:{dead.stdout.strip()}:x", lease_s=300)
    assert store.requeue_interrupted() == 1
    assert store.get("orphan")["status"] == PENDING and store.get("mine")["status"] == RUNNING


def test_a_store_from_before_leases_gains_the_new_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("CREATE TABLE calls (call_id VARCHAR(255) PRIMARY KEY, path TEXT NOT NULL, "
                          "content_sha256 VARCHAR(64), analysis_hash VARCHAR(64), rules_hash VARCHAR(64), "
                          "agent_id VARCHAR(255), queue VARCHAR(255), start_time VARCHAR(64), call_metadata JSON, "
                          "status VARCHAR(16) NOT NULL, error TEXT, attempts INTEGER NOT NULL, duration_ms INTEGER, "
                          "timings_ms JSON, report_path TEXT, updated_at VARCHAR(32) NOT NULL)"))
        c.execute(sa.text("INSERT INTO calls VALUES ('old', '/x/old.wav', 's', 'h', 'r', NULL, NULL, NULL, '{}', "
                          "'running', NULL, 1, NULL, NULL, NULL, '2026-11-01T00:00:00+00:00')"))
    engine.dispose()
    store = Store(url)
    assert store.requeue_interrupted() == 1  # running, with no lease at all: a killed old batch
    assert store.claim(a_call("old"), "host:1:a", lease_s=300) == 1


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_the_same_file_name_on_two_nights_keeps_both_calls(tmp_path):
    store, config = Store("sqlite://"), load_config(None)
    night1 = write(tmp_path / "2026-12-01" / "call001.wav", b"RIFF night one")
    [job] = plan([night1], store, config)
    assert job.call["call_id"] == "call001"
    store.claim(job.call, "host:1:a", lease_s=300)
    store.finish(job.call, {"source": {"duration_ms": 1000}, "events": [], "rules": []}, "call001.json")

    night2 = write(tmp_path / "2026-12-02" / "call001.wav", b"RIFF night two")
    [job] = plan([night2], store, config)
    assert job.action == "analyze" and job.call["call_id"].startswith("call001-")  # its own id: nothing replaced
    assert plan([night2], store, config)[0].call["call_id"] == job.call["call_id"]  # stable on a rerun
    assert plan([night1], store, config)[0].action == "skip"  # night one is still there, done

    moved = write(tmp_path / "archive" / "call001.wav", b"RIFF night one")  # the same audio, moved: same call
    assert plan([moved], store, config)[0].call["call_id"] == "call001"


def test_two_files_with_one_name_in_one_batch_get_two_ids(tmp_path):
    a = write(tmp_path / "a" / "call001.wav", b"RIFF one")
    b = write(tmp_path / "b" / "call001.wav", b"RIFF two")
    broken = tmp_path / "c" / "call001.wav"
    broken.parent.mkdir()
    broken.symlink_to(tmp_path / "gone.wav")
    jobs = plan([a, b, broken], Store("sqlite://"), load_config(None))
    assert len({j.call["call_id"] for j in jobs}) == 3
    assert [j.action for j in jobs] == ["analyze", "analyze", "fail"]


def test_a_site_vocabulary_changes_the_analysis_and_none_leaves_old_stores_alone():
    from audioqa.batch.plan import config_hashes

    plain = config_hashes(load_config(None))[0]
    assert config_hashes(load_config(None, {"asr": {"vocabulary": ["Zentrixa"]}}))[0] != plain
    settings = load_config(None).model_dump()
    settings["asr"].pop("vocabulary")  # what a store written before the option existed was hashed from
    assert "vocabulary" not in str(settings) and plain == config_hashes(load_config(None))[0]


def test_a_speed_only_setting_leaves_the_analysis_hash_alone():
    from audioqa.batch.plan import config_hashes

    plain = config_hashes(load_config(None))[0]
    assert config_hashes(load_config(None, {"diarization": {"segmentation_batch_size": 1}}))[0] == plain
    assert config_hashes(load_config(None, {"diarization": {"segmentation_step": 0.5}}))[0] != plain
