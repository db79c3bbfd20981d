"""Speech recognition: faster-whisper with VAD and word timestamps, guarded against hallucination.

Whisper invents fluent text over silence, hold music and noise. Three guards keep a silent party
silent: Silero VAD before decoding, no conditioning on previously decoded text (a hallucination
cannot feed the next window), and per-segment gates on no-speech probability, mean log-probability
and compression ratio. Whisper measures repetition over a whole 30 s window, so a customer who says
the same sentence again would lose every copy: a repetitive segment is kept when its words are heard
clearly at a speaking pace, and dropped as a loop otherwise. Mandarin comes out of Whisper base
mostly in traditional characters; it is normalised to simplified (OpenCC t2s) before anything
downstream reads it. A long call is recognised five minutes at a time, cut at its quietest moment:
faster-whisper computes features for the whole signal at once, about 50 MB per minute of audio.
"""

from __future__ import annotations

import logging
import zlib
from typing import Any

import numpy as np

from .config import AsrOptions
from .records import Word
from .text import to_simplified

logger = logging.getLogger("audioqa")
_MAX_WORDS_PER_S = 8.0  # faster than anyone speaks (Mandarin, in Whisper's words, runs at 4-5 per second)
_WINDOW_S = 300         # recognition window for long calls ...
_CUT_SEARCH_S = 30      # ... each cut at the quietest 100 ms of its last 30 s


def _vad_parameters(options: AsrOptions):
    from faster_whisper.vad import VadOptions

    return VadOptions(min_silence_duration_ms=options.vad_min_silence_ms, speech_pad_ms=options.vad_speech_pad_ms,
                      threshold=options.vad_threshold)


def _keep_segment(segment: Any, options: AsrOptions) -> bool:
    if segment.no_speech_prob > options.no_speech_threshold and segment.avg_logprob < options.log_prob_threshold:
        return False
    if segment.avg_logprob < options.min_avg_log_prob:
        return False
    own_ratio = compression_ratio(segment.text)
    if max(segment.compression_ratio, own_ratio) > options.compression_ratio_threshold:
        return _said_again(segment, own_ratio > options.compression_ratio_threshold, options)
    return True


def _said_again(segment: Any, loops_on_itself: bool, options: AsrOptions) -> bool:
    """A repetitive segment, or one from a repetitive 30 s window, is real speech said again and not
    a hallucinated loop when its words are heard clearly; a segment whose own text loops must also
    give each word the time a spoken word takes (a loop crams its words into a stretch of noise that
    Silero VAD let through)."""
    words = list(segment.words or ())
    if not words or float(np.mean([w.probability for w in words])) < options.repeated_min_word_prob:
        return False
    if not loops_on_itself:
        return True
    return len(words) / max(words[-1].end - words[0].start, 1e-3) <= _MAX_WORDS_PER_S


def speech_spans(samples: np.ndarray, options: AsrOptions, *, sr: int = 16000) -> list[tuple[int, int]]:
    """Where a one-channel signal holds speech, as the recogniser hears it: (begin, end) in ms, from the
    same Silero VAD and settings that choose what Whisper decodes."""
    from faster_whisper.vad import get_speech_timestamps

    return [(s["start"] * 1000 // sr, s["end"] * 1000 // sr)
            for s in get_speech_timestamps(samples, _vad_parameters(options), sr)]


def compression_ratio(text: str) -> float:
    """How repetitive a text is: its UTF-8 length over its zlib-compressed length (Whisper's measure)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def windows(samples: np.ndarray, *, sr: int, window_s: float, search_s: float) -> list[tuple[int, int]]:
    """(begin, end) sample indices of consecutive windows of at most ``window_s`` seconds covering
    ``samples``; each cut lies in the quietest 100 ms of the last ``search_s`` seconds before it."""
    size, search, frame = int(window_s * sr), int(search_s * sr), sr // 10
    out, begin = [], 0
    while len(samples) - begin > size:
        low = begin + size - search
        stretch = samples[low:low + search // frame * frame].reshape(-1, frame)
        cut = low + int(np.argmin((stretch.astype(np.float64) ** 2).sum(axis=1))) * frame + frame // 2
        out.append((begin, cut))
        begin = cut
    out.append((begin, len(samples)))
    return out


def transcribe(model: Any, samples: np.ndarray, *, language: str | None, options: AsrOptions,
               speaker: str = "") -> tuple[list[Word], str]:
    """Recognise one 16 kHz mono signal into words with times in ms.

    Args:
        model: a loaded ``faster_whisper.WhisperModel``.
        samples: float32 array, shape (n,), 16 kHz.
        language: Whisper language code, or None to detect it from the speech (no separate pass: the
            recogniser detects it on its first window).
        options: the ``asr`` configuration section.
        speaker: label stamped on every word (the channel's speaker on stereo calls).

    Returns:
        (words, the language used).
    """
    words = []
    for begin, end in windows(samples, sr=16000, window_s=_WINDOW_S, search_s=_CUT_SEARCH_S):
        found, language = _transcribe_window(model, samples[begin:end], begin * 1000 // 16000,
                                             language=language, options=options, speaker=speaker)
        words += found
    return words, language


def _transcribe_window(model: Any, samples: np.ndarray, offset_ms: int, *, language: str | None,
                       options: AsrOptions, speaker: str) -> tuple[list[Word], str]:
    runner, batching = model, {}
    if options.gpu_batch_size > 0 and getattr(model.model, "device", "cpu") == "cuda":
        from faster_whisper import BatchedInferencePipeline

        # on a GPU, decode VAD chunks side by side; each chunk is decoded on its own (no previous text)
        runner, batching = BatchedInferencePipeline(model), {"batch_size": options.gpu_batch_size}
    segments, info = runner.transcribe(
        samples,
        language=language,
        beam_size=options.beam_size,
        word_timestamps=True,
        vad_filter=True,
        vad_parameters=_vad_parameters(options),
        condition_on_previous_text=False,
        no_speech_threshold=options.no_speech_threshold,
        log_prob_threshold=options.log_prob_threshold,
        compression_ratio_threshold=options.compression_ratio_threshold,
        hallucination_silence_threshold=options.hallucination_silence_s,
        language_detection_segments=2,
        hotwords=", ".join(options.vocabulary) or None,  # the site's names, in every window's prompt
        **batching,
    )
    language = info.language
    words = []
    for segment in segments:  # a lazy generator: decoding happens here
        if not _keep_segment(segment, options):
            logger.debug("dropped segment %.1f-%.1f s: %r", segment.start, segment.end, segment.text)
            continue
        for w in segment.words or ():
            text = w.word.strip()
            if language == "zh":
                text = to_simplified(text)
            if text:
                begin_ms = offset_ms + round(w.start * 1000)
                words.append(Word(text, begin_ms, max(offset_ms + round(w.end * 1000), begin_ms + 1),
                                  round(float(w.probability), 3), speaker))
    return words, language

