"""Decoding and channel handling.

PyAV decodes every container and codec FFmpeg knows (WAV PCM / μ-law / A-law, MP3, FLAC, OGG/Opus,
M4A) without a system FFmpeg, and resamples to the 16 kHz the models expect while keeping the two
channels of a stereo recording apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .errors import AudioError

SAMPLE_RATE_HZ = 16000
_FRAME_MS = 20
SOURCE_RATES_HZ = (4000, 192000)  # telephone narrowband to studio: a header outside this is lying
_MIN_BYTES_PER_S = 400  # below any speech codec FFmpeg decodes (AMR-NB 4.75 kbit/s is 594 bytes/s)


@dataclass(frozen=True)
class Audio:
    """A decoded recording.

    ``samples`` has shape (channels, n) at 16 kHz, float32 in [-1, 1]: two rows for a stereo file,
    one otherwise. ``sample_rate_hz`` and ``channels`` describe the file as recorded.
    """

    path: str
    samples: np.ndarray
    sample_rate_hz: int
    channels: int
    sha256: str

    @property
    def duration_ms(self) -> int:
        return self.samples.shape[1] * 1000 // SAMPLE_RATE_HZ


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _decode(path: Path) -> tuple[np.ndarray, int, int]:
    """Return (samples (channels, n) at 16 kHz, source rate in Hz, source channel count)."""
    with av.open(str(path), metadata_errors="ignore") as container:
        if not container.streams.audio:
            raise AudioError(path, "no audio stream in the file")
        stream = container.streams.audio[0]
        source_rate = stream.codec_context.sample_rate or stream.rate or 0
        source_channels = stream.codec_context.channels or 0
        if not SOURCE_RATES_HZ[0] <= source_rate <= SOURCE_RATES_HZ[1]:
            raise AudioError(path, f"the header's sample rate {source_rate} Hz is outside "
                                   f"{SOURCE_RATES_HZ[0] // 1000}-{SOURCE_RATES_HZ[1] // 1000} kHz")
        # bounded memory: no file decodes to more audio than its bytes can carry
        max_samples = (path.stat().st_size // _MIN_BYTES_PER_S + 10) * SAMPLE_RATE_HZ
        layout = "stereo" if source_channels == 2 else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE_HZ)
        chunks = []
        n_samples = 0
        try:
            for frame in container.decode(stream):
                frame.pts = None  # let the resampler count samples itself
                chunks.extend(r.to_ndarray() for r in resampler.resample(frame))
                n_samples += frame.samples * SAMPLE_RATE_HZ // source_rate
                if n_samples > max_samples:
                    raise AudioError(path, f"decodes to more audio than {path.stat().st_size} bytes can hold "
                                           f"(over {max_samples // SAMPLE_RATE_HZ} s): a damaged or lying header")
        except av.error.InvalidDataError:
            if not chunks:  # a damaged tail is tolerated, an undecodable file is not
                raise
        chunks.extend(r.to_ndarray() for r in resampler.resample(None))
    n_channels = 2 if layout == "stereo" else 1
    if not chunks:
        return np.zeros((n_channels, 0), np.float32), source_rate, source_channels
    # shape: (channels, samples)
    return np.concatenate(chunks, axis=1).astype(np.float32), source_rate, source_channels


def _wav_shortfall(path: Path) -> str | None:
    """For a RIFF/WAVE file whose data chunk is cut short, say so (FFmpeg decodes the rest silently)."""
    import struct

    with open(path, "rb") as f:
        if f.read(12)[8:12] != b"WAVE":
            return None
        while header := f.read(8):
            if len(header) < 8:
                return None
            chunk, size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk == b"data":
                available = path.stat().st_size - f.tell()
                if size != 0xFFFFFFFF and available < size * 0.99:  # 0xFFFFFFFF: size unknown (streamed)
                    return f"truncated: the WAV header declares {size} bytes of audio, the file holds {available}"
                return None
            f.seek(size + (size & 1), 1)
    return None


def decode_audio(path: str | Path, *, silent_peak_dbfs: float = -55.0) -> Audio:
    """Decode a recording to 16 kHz float32, one row per channel (stereo kept apart).

    Args:
        path: any audio file FFmpeg can read.
        silent_peak_dbfs: a file whose peak level stays below this (dBFS) is rejected as silent.

    Raises:
        AudioError: the file is missing, unreadable, empty (0 s) or entirely silent, its header's sample
            rate is outside 4-192 kHz, or it decodes to more audio than its size allows.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "no such file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    shortfall = _wav_shortfall(path)
    if shortfall:
        raise AudioError(path, shortfall)
    try:
        samples, source_rate, source_channels = _decode(path)
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise AudioError(path, f"not a readable audio file ({type(e).__name__}: {e})") from None
    if samples.shape[1] == 0:
        raise AudioError(path, "empty (0 s of audio)")
    peak = float(np.abs(samples).max())
    peak_dbfs = 20 * np.log10(peak) if peak > 0 else -np.inf
    if peak_dbfs < silent_peak_dbfs:
        raise AudioError(path, f"entirely silent (peak {peak_dbfs:.0f} dBFS < {silent_peak_dbfs:.0f} dBFS)")
    return Audio(str(path), samples, source_rate, source_channels, sha256_file(path))


def is_fake_stereo(samples: np.ndarray, *, min_corr: float = 0.995, max_level_diff_db: float = 1.0) -> bool:
    """True when the two rows of ``samples`` (shape (2, n)) carry the same signal.

    Args:
        samples: two channels, shape (2, n).
        min_corr: Pearson correlation above which the channels count as identical.
        max_level_diff_db: the channels' RMS levels must also agree within this many dB.
    """
    if samples.shape[0] != 2:
        return False
    left, right = samples.astype(np.float64)
    rms_l, rms_r = np.sqrt(np.mean(left**2)), np.sqrt(np.mean(right**2))
    if rms_l == 0 or rms_r == 0:
        return rms_l == rms_r
    if abs(20 * np.log10(rms_l / rms_r)) > max_level_diff_db:
        return False
    return float(np.corrcoef(left, right)[0, 1]) >= min_corr


def frame_levels_db(signal: np.ndarray, *, frame_ms: int = _FRAME_MS) -> np.ndarray:
    """RMS level of consecutive non-overlapping frames of a 16 kHz signal, in dBFS.

    Returns an array of shape (ceil(n / frame_samples),); silent frames are -120 dBFS.
    """
    frame = SAMPLE_RATE_HZ * frame_ms // 1000
    n_frames = -(-len(signal) // frame)
    padded = np.pad(signal, (0, n_frames * frame - len(signal)))
    rms = np.sqrt(np.mean(padded.reshape(n_frames, frame).astype(np.float64) ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-6))


def gate_leak(samples: np.ndarray, *, gate_db: float, frame_ms: int = _FRAME_MS) -> np.ndarray:
    """Silence, in each channel, the frames where only the other party's leak is heard.

    A frame of one channel is kept when its level is within ``gate_db`` of the other channel's
    (so simultaneous speech on both channels survives) and zeroed otherwise.

    Args:
        samples: stereo audio, shape (2, n), 16 kHz.
        gate_db: dB; the other party leaks in about 20-30 dB down, so 10 dB separates leak from speech.

    Returns:
        A new array of the same shape.
    """
    frame = SAMPLE_RATE_HZ * frame_ms // 1000
    levels = np.stack([frame_levels_db(ch, frame_ms=frame_ms) for ch in samples])  # shape: (2, frames)
    keep = levels >= levels[::-1] - gate_db  # shape: (2, frames)
    mask = np.repeat(keep, frame, axis=1)[:, : samples.shape[1]]
    return (samples * mask).astype(np.float32)


def keep_spans(samples: np.ndarray, keep_ms: Sequence[tuple[int, int]], mute_ms: Sequence[tuple[int, int]] = (),
               *, pad_ms: int, sr: int = SAMPLE_RATE_HZ, fade_ms: int = 10) -> np.ndarray:
    """A copy of a one-channel signal that is silent except in ``keep_ms``.

    Args:
        samples: float32, shape (n,).
        keep_ms: (begin, end) spans to keep, in ms; each is widened by ``pad_ms`` on both sides ...
        mute_ms: ... but never into these spans (another speaker's turns), which stay silent.
        pad_ms: how far each kept span reaches into the silence around it, in ms.
        sr: sample rate in Hz.
        fade_ms: each kept stretch fades in and out over this long, so that no edge clicks.
    """
    n = len(samples)
    gain = np.zeros(n, dtype=np.float32)
    to_index = lambda ms: min(max(ms * sr // 1000, 0), n)  # noqa: E731
    for begin, end in keep_ms:
        gain[to_index(begin - pad_ms):to_index(end + pad_ms)] = 1.0
    for begin, end in mute_ms:
        gain[to_index(begin):to_index(end)] = 0.0
    for begin, end in keep_ms:  # a speaker's own span wins over a neighbour's overlapping one
        gain[to_index(begin):to_index(end)] = 1.0
    edges = np.flatnonzero(np.diff(gain)) + 1
    fade = max(1, fade_ms * sr // 1000)
    for edge in edges:
        rising = gain[edge] > 0
        begin, end = (edge, min(edge + fade, n)) if rising else (max(edge - fade, 0), edge)
        ramp = np.linspace(0.0, 1.0, end - begin, endpoint=False, dtype=np.float32) + 1.0 / fade
        gain[begin:end] *= ramp if rising else ramp[::-1]
    gain *= samples  # the gain's own memory becomes the result: one call-length buffer, not two
    return gain
