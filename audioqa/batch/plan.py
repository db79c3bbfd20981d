"""Planning a batch: which recordings there are, and for each whether to analyse, re-score, skip or fail it."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..audio import sha256_file
from ..config import Config
from ..errors import AudioQAError
from .store import DONE, FAILED, Store


@dataclass
class Job:
    """One file of the batch and what to do with it; ``call`` is its row in the store's ``calls`` table."""

    path: Path
    call: dict[str, Any]
    action: str  # analyze | rescore | skip | fail | ignore
    reason: str = ""


def config_hashes(config: Config) -> tuple[str, str]:
    """(hash of every setting that changes the analysis, hash of the rule packs' contents)."""
    settings = config.model_dump()
    settings.pop("rules")
    settings.pop("batch")
    if not settings["asr"]["vocabulary"]:  # added later: a store from before it must not re-analyse every call
        settings["asr"].pop("vocabulary")
    settings["diarization"].pop("segmentation_batch_size")  # speed only, and added later: the same output for any size
    analysis = hashlib.sha256(json.dumps(settings, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    rules = hashlib.sha256()
    for language in sorted(config.rules.packs):
        path = config.rules.pack_path(language)
        rules.update(language.encode() + (path.read_bytes() if path and path.is_file() else b""))
    if config.rules.disabled:  # added later: hashed only when set, so older stores keep their hashes
        rules.update(json.dumps(sorted(config.rules.disabled)).encode())
    return analysis, rules.hexdigest()


def discover(inputs: Sequence[Path], *, pattern: str = "*", extensions: Sequence[str] = ()) -> list[Path]:
    """Files under the inputs (recursively), matching a glob, hidden files and folders left out.

    Entries that cannot be recordings but look like them come too, for :func:`plan` to fail with a
    reason rather than pass over in silence: dangling links, link loops, and folders named with one of
    the audio ``extensions`` (``x.wav/``). Links to folders are not followed.
    """
    found = []
    for root in inputs:
        if root.is_file():
            found.append(root)
            continue
        if not root.is_dir():
            raise AudioQAError(f"{root}: {_not_a_recording(root) or 'no such file or directory'}")
        for path in root.rglob(pattern):
            relative = path.relative_to(root).parts
            if any(part.startswith(".") for part in relative):
                continue
            if not path.is_dir() or path.suffix.lower() in extensions:
                found.append(path)
    return sorted(set(found), key=lambda p: os.fsencode(p))


def _not_a_recording(path: Path) -> str | None:
    """Why ``path`` cannot be read as a recording file, or None when it is a regular file."""
    if path.is_dir():
        return "a folder, not a recording"
    try:
        path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symbolic link loop"
        return "a dangling link: its target is missing" if path.is_symlink() else f"cannot be read ({e.strerror})"
    return None if path.is_file() else "not a regular file"


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


def _identify(name_id: str, path: str, content_sha256: str, taken: dict[str, str],
              store: Store) -> tuple[str, dict[str, Any] | None]:
    """The call id for a recording (noted in ``taken``), and the store's row for it (None if new).

    The id is the name (file stem, or the pattern's call_id) unless that name already belongs to a
    different recording: another file of this batch, or a stored call with another path *and* other
    audio (last night's ``call001.wav`` in another folder). Then the audio's hash is appended, so both
    are kept and a rerun finds the same id again. The same path with new audio is the same call
    re-recorded; the same audio under a new path is the same call moved.
    """
    by_path = f"{name_id}-{hashlib.sha1(path.encode()).hexdigest()[:8]}"
    for candidate in (name_id, f"{name_id}-{content_sha256[:8]}" if content_sha256 else by_path, by_path):
        if taken.get(candidate, path) != path:
            continue
        row = store.get(candidate)
        if row is None or row["path"] == path or (content_sha256 and row["content_sha256"] == content_sha256):
            taken[candidate] = path
            return candidate, row
    return by_path, store.get(by_path)  # unreachable but for a hash collision


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
            call_id, _ = _identify(Path(shown).stem, shown, "", taken, store)
            jobs.append(Job(path, {"call_id": call_id, "path": shown}, "fail",
                            "file name is not valid UTF-8: rename the file"))
            continue
        problem = _not_a_recording(path)
        if problem:
            call_id, _ = _identify(path.stem, name, "", taken, store)
            jobs.append(Job(path, {"call_id": call_id, "path": name}, "fail", problem))
            continue
        if path.suffix.lower() not in options.extensions:  # a README or a checksum file beside the calls
            jobs.append(Job(path, {"call_id": path.stem, "path": name}, "ignore", "not an audio file name"))
            continue
        meta = metadata_from_name(path, options.filename_pattern)
        started = _start_time(meta.get("start_time"))
        if since and (started or datetime.fromtimestamp(path.stat().st_mtime)) < since:
            continue
        content_sha256 = sha256_file(path)
        call_id, row = _identify(meta.get("call_id") or path.stem, name, content_sha256, taken, store)
        call = {"call_id": call_id, "path": name, "content_sha256": content_sha256, "analysis_hash": analysis_hash,
                "rules_hash": rules_hash, "agent_id": meta.get("agent_id"), "queue": meta.get("queue"),
                "start_time": meta.get("start_time"), "call_metadata": meta}
        same_input = row and row["content_sha256"] == call["content_sha256"] and row["analysis_hash"] == analysis_hash
        if same_input and row["status"] == DONE:
            jobs.append(Job(path, call, "skip" if row["rules_hash"] == rules_hash else "rescore"))
        elif same_input and row["status"] == FAILED and row["attempts"] >= options.max_attempts:
            jobs.append(Job(path, call, "skip", row["error"] or "failed"))
        else:
            jobs.append(Job(path, call, "analyze"))
    return jobs
