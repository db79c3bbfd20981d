"""Writing files so that nothing is ever half-written, and the two audio encodings audioqa writes.

Every file goes to a temporary file in the same directory and is then renamed over the target: readers
(a QA tool, the next night's batch) see the old file or the new one, never a part.
"""

from __future__ import annotations

import base64
import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; when the block ends without error it replaces ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; reports are for the whole QA team
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write text (UTF-8) or bytes to ``path`` atomically, flushed to disk before the rename."""
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())


def encode_audio(samples: np.ndarray, *, sample_rate_hz: int, fmt: Literal["ogg", "wav"]) -> bytes:
    """Float samples in [-1, 1], shape (channels, n), as the bytes of an audio file.

    Args:
        samples: one or two channels.
        sample_rate_hz: their sample rate.
        fmt: "ogg": the mono mix as Opus at 24 kbit/s (about 180 kB a minute, for pages); "wav": every
            channel as 16-bit PCM at ``sample_rate_hz``.
    """
    import av

    samples = np.clip(np.atleast_2d(samples), -1, 1).astype(np.float32)
    if fmt == "ogg":
        samples, codec, rate = samples.mean(axis=0, keepdims=True), "libopus", 48000
    else:
        codec, rate = "pcm_s16le", sample_rate_hz
    layout = "stereo" if samples.shape[0] == 2 else "mono"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        if fmt == "ogg":
            stream.bit_rate = 24000
        resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=layout)
        frame.sample_rate = sample_rate_hz
        for resampled in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def audio_data_uri(samples: np.ndarray, *, sample_rate_hz: int) -> str:
    """A ``data:`` URI of the call's mono mix as Ogg/Opus, to embed in a page."""
    return "data:audio/ogg;base64," + base64.b64encode(encode_audio(samples, sample_rate_hz=sample_rate_hz,
                                                                    fmt="ogg")).decode()
