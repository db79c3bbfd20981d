"""Decoding: formats, rates, channels, and the files that must fail with a clear reason."""

from __future__ import annotations

import struct

import av
import numpy as np
import pytest
import soundfile as sf

from audioqa.audio import SAMPLE_RATE_HZ, decode_audio, gate_leak, is_fake_stereo, keep_spans
from audioqa.errors import AudioError


def tone(seconds: float, rate: int, freq_hz: float = 440.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def test_decodes_8khz_mulaw_wav_to_16khz(tmp_path):
    path = tmp_path / "call.wav"
    sf.write(path, tone(2.0, 8000), 8000, subtype="ULAW")
    audio = decode_audio(path)
    assert audio.sample_rate_hz == 8000 and audio.channels == 1
    assert audio.samples.shape[0] == 1
    assert abs(audio.samples.shape[1] - 2 * SAMPLE_RATE_HZ) < 200
    assert audio.duration_ms == pytest.approx(2000, abs=15)
    assert np.abs(audio.samples).max() == pytest.approx(0.3, abs=0.03)


def test_decodes_alaw_wav(tmp_path):
    path = tmp_path / "call.wav"
    sf.write(path, tone(1.0, 8000), 8000, subtype="ALAW")
    assert decode_audio(path).duration_ms == pytest.approx(1000, abs=15)


def _write_mp3(path, samples: np.ndarray, rate: int) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mp3", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_decodes_mp3_at_44100(tmp_path):
    path = tmp_path / "call.mp3"
    _write_mp3(path, tone(3.0, 44100), 44100)
    audio = decode_audio(path)
    assert audio.sample_rate_hz == 44100
    assert audio.duration_ms == pytest.approx(3000, abs=100)
    spectrum = np.abs(np.fft.rfft(audio.samples[0]))
    assert np.argmax(spectrum) * SAMPLE_RATE_HZ / len(audio.samples[0]) == pytest.approx(440, abs=5)


@pytest.mark.parametrize("suffix, codec", [(".ogg", "libopus"), (".m4a", "aac")])
def test_decodes_opus_and_aac_at_48khz(tmp_path, suffix, codec):
    path = tmp_path / f"call{suffix}"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=48000, layout="mono")
        samples = tone(2.0, 48000)
        frame_size = stream.codec_context.frame_size or 1024
        for i in range(0, len(samples) - frame_size + 1, frame_size):
            frame = av.AudioFrame.from_ndarray(samples[None, i:i + frame_size], format="fltp", layout="mono")
            frame.sample_rate = 48000
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    audio = decode_audio(path)
    assert audio.sample_rate_hz == 48000
    assert audio.duration_ms == pytest.approx(2000, abs=120)


def test_stereo_channels_stay_apart(tmp_path):
    path = tmp_path / "stereo.flac"
    left, right = tone(1.0, 48000, 300.0), tone(1.0, 48000, 1200.0, level=0.1)
    sf.write(path, np.stack([left, right], axis=1), 48000)
    audio = decode_audio(path)
    assert audio.channels == 2 and audio.samples.shape[0] == 2
    assert np.abs(audio.samples[0]).max() == pytest.approx(0.3, abs=0.02)
    assert np.abs(audio.samples[1]).max() == pytest.approx(0.1, abs=0.02)
    assert not is_fake_stereo(audio.samples)


def test_identical_channels_are_fake_stereo():
    mono = tone(1.0, SAMPLE_RATE_HZ)
    assert is_fake_stereo(np.stack([mono, mono]))
    assert not is_fake_stereo(np.stack([mono, np.roll(mono, 5000) * 0.2]))


def test_empty_file_is_an_audio_error(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), 8000)
    with pytest.raises(AudioError, match=r"empty.wav: empty \(0 s"):
        decode_audio(path)


def test_zero_byte_file_is_an_audio_error(tmp_path):
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match=r"zero.wav: empty file \(0 bytes\)"):
        decode_audio(path)


def test_corrupt_file_is_an_audio_error(tmp_path):
    path = tmp_path / "corrupt.mp3"
    path.write_bytes(np.random.default_rng(0).bytes(20000))
    with pytest.raises(AudioError, match="corrupt.mp3: .*(not a readable audio file|no audio stream|empty)"):
        decode_audio(path)


def test_truncated_wav_is_an_audio_error(tmp_path):
    path = tmp_path / "whole.wav"
    sf.write(path, tone(3.0, 16000), 16000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(path.read_bytes()[:20000])
    with pytest.raises(AudioError, match="cut.wav: truncated: the WAV header declares 96000 bytes"):
        decode_audio(cut)
    assert decode_audio(path).duration_ms == 3000


def test_text_file_is_an_audio_error(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 100)
    with pytest.raises(AudioError, match="notes.wav"):
        decode_audio(path)


def test_silent_file_is_an_audio_error(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(16000, np.float32), 16000)
    with pytest.raises(AudioError, match="entirely silent"):
        decode_audio(path)


def test_missing_file_is_an_audio_error(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        decode_audio(tmp_path / "nope.wav")


def test_leak_gate_silences_the_other_partys_leak():
    speech = tone(1.0, SAMPLE_RATE_HZ, level=0.3)
    leak = speech * 10 ** (-25 / 20)  # the other party heard 25 dB down
    gated = gate_leak(np.stack([speech, leak]), gate_db=10.0)
    assert np.allclose(gated[0], speech)
    assert np.abs(gated[1]).max() == 0.0
    both = gate_leak(np.stack([speech, speech * 0.5]), gate_db=10.0)  # double talk survives on both
    assert np.abs(both[1]).max() > 0.1


def _wav_with_header_rate(path, rate_hz: int, n_bytes: int = 32_000) -> None:
    """A 16-bit mono PCM WAV whose header claims ``rate_hz``, holding ``n_bytes`` of noise."""
    data = (np.random.default_rng(0).normal(0, 3000, n_bytes // 2)).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate_hz, rate_hz * 2, 2, 16)
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
                     + b"data" + struct.pack("<I", len(data)) + data)


@pytest.mark.parametrize("rate_hz", [1, 2000, 10_000_000])
def test_a_header_with_an_impossible_sample_rate_is_refused_before_decoding(tmp_path, rate_hz):
    path = tmp_path / "liar.wav"
    _wav_with_header_rate(path, rate_hz)
    with pytest.raises(AudioError, match=f"sample rate {rate_hz} Hz is outside 4-192 kHz"):
        decode_audio(path)


def test_telephone_and_studio_rates_at_the_edges_are_accepted(tmp_path):
    for rate_hz in (4000, 192000):
        _wav_with_header_rate(tmp_path / "ok.wav", rate_hz, n_bytes=rate_hz * 2)
        assert decode_audio(tmp_path / "ok.wav").duration_ms == 1000


def test_a_file_that_decodes_to_more_audio_than_its_bytes_allow_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr("audioqa.audio._MIN_BYTES_PER_S", 1_000_000)  # as if the codec were 8 Mbit/s at least
    path = tmp_path / "long.wav"
    sf.write(path, tone(20.0, 8000), 8000, subtype="ULAW")
    with pytest.raises(AudioError, match="decodes to more audio than 160"):
        decode_audio(path)


def test_keep_spans_silences_all_but_one_speakers_stretches():
    signal = np.ones(SAMPLE_RATE_HZ * 2, dtype=np.float32)  # 2 s
    ms = lambda t: t * SAMPLE_RATE_HZ // 1000  # noqa: E731
    kept = keep_spans(signal, [(500, 800)], [(850, 1200)], pad_ms=100, fade_ms=10)
    assert kept[ms(500):ms(800)].min() == 1.0                  # the speaker's own span, whole
    assert kept[ms(420):ms(480)].min() == 1.0                  # padded into the silence before it ...
    assert kept[ms(850):].max() == 0.0                         # ... but never into the next speaker's turn
    assert kept[:ms(400)].max() == 0.0
    assert 0.0 < kept[ms(405)] < 1.0 and 0.0 < kept[ms(845)] < 1.0  # edges fade instead of clicking
    assert signal.min() == 1.0                                 # the call's own samples are untouched
