"""One call, start to finish: the whole pipeline in one function (:func:`analyze_audio`).

decode ─► speakers (channels or diarisation) ─► asr (language detected on the way; on mono, one speaker at a
       time) ─► turns & roles (on mono, each phrase checked against the speakers' voices)
       ─► conversation ─► prosody ─► detectors ─► rules & score

After each stage the pipeline calls ``hook(stage, artefact)`` with what the stage produced, as pyannote's
pipelines do: the CLI shows progress through it and the benchmark measures memory. Each stage's wall time
(:class:`TimingHook`) goes into the report's ``timings_ms`` and, with ``-v``, into the log.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import asr
from .audio import SAMPLE_RATE_HZ, Audio, decode_audio, gate_leak, is_fake_stereo, keep_spans
from .config import Config, load_config
from .conversation import analyse_conversation
from .detectors import detect_events
from .diarization import diarise, embed_voice, follow_voices, overlaps
from .errors import ConfigError
from .models import Models, load_models
from .prosody import analyse_prosody
from .records import AGENT, CUSTOMER, CallOptions, CallReport, Source, Speaker, SpeakerSegment
from .scoring import apply_rules
from .turns import assign_roles_from_text, build_turns

logger = logging.getLogger("audioqa")

Hook = Callable[[str, Any], None]
"""``hook(stage, artefact)``: called after each stage with what it produced."""

STAGES = ("decode", "speakers", "asr", "turns", "conversation", "prosody", "detectors", "rules")


class TimingHook:
    """A hook that times each stage: the wall time since the previous stage ended (or since :meth:`start`),
    in ms, added up per stage in ``ms``; logged at INFO level."""

    def __init__(self, call_id: str = "") -> None:
        self.call_id = call_id
        self.ms: dict[str, int] = {}
        self.start()

    def start(self) -> None:
        """Start the clock for the next stage (what happened since the last stage is not counted)."""
        self._last = time.perf_counter()

    def __call__(self, stage: str, artefact: Any = None) -> None:
        now = time.perf_counter()
        ms = round((now - self._last) * 1000)
        self.ms[stage] = self.ms.get(stage, 0) + ms
        self._last = now
        logger.info("%s: %s %d ms", self.call_id, stage, ms)


def call_id_for(path: str | Path, pattern: str | None) -> str:
    """The file stem, or the ``call_id`` group of ``pattern`` matched against it."""
    stem = Path(path).stem
    if pattern:
        match = re.search(pattern, stem)
        if match and match.groupdict().get("call_id"):
            return match.group("call_id")
    return stem


def analyze_audio(audio: Audio, models: Models, config: Config, *, call_id: str, hook: Hook | None = None,
                  timing: TimingHook | None = None) -> CallReport:
    """Analyse a decoded call with loaded models.

    Args:
        audio: the decoded recording.
        models: loaded once per process (:func:`audioqa.load_models`).
        config: the validated configuration.
        call_id: the report's name for the call.
        hook: called as ``hook(stage, artefact)`` after each stage.
        timing: the call's stage timer, when stages (decoding) were timed before this.
    """
    timing = timing or TimingHook(call_id)

    def done(stage: str, artefact: Any) -> None:
        timing(stage, artefact)
        if hook:
            hook(stage, artefact)

    stereo = audio.samples.shape[0] == 2 and not is_fake_stereo(
        audio.samples, min_corr=config.audio.fake_stereo_corr)
    if stereo:
        channel_roles = {config.channels.agent: AGENT, config.channels.customer: CUSTOMER}  # validated: 0 and 1
        signals = {f"ch{c}": s for c, s in enumerate(gate_leak(audio.samples, gate_db=config.audio.leak_gate_db))}
        segments = []
        speech = [SpeakerSegment(name, begin, end) for name, signal in signals.items()
                  for begin, end in asr.speech_spans(signal, config.asr)]
    else:
        diarization = models.diarization  # a lazy first load happens here, outside the call's timings
        timing.start()
        if diarization is None:
            raise ConfigError("a one-channel call needs the diarisation pipeline, which was not loaded")
        # one channel: the samples themselves, not a copy (a 40-minute call is 150 MB of float32)
        mono = audio.samples[0] if audio.samples.shape[0] == 1 else audio.samples.mean(axis=0, dtype=np.float32)
        signals = {"": mono}
        segments, speech = diarise(diarization, mono, config.diarization)
    done("speakers", speech)

    language = None if config.asr.language == "auto" else config.asr.language
    words = []
    # the most speech first: with language "auto" it decides the language for the others
    for speaker, signal in _recognition_signals(signals, segments, config):
        found, language = asr.transcribe(models.whisper, signal, language=language, options=config.asr,
                                         speaker=speaker)
        words += found
    done("asr", words)

    if stereo:
        roles = {f"ch{c}": (role, 1.0) for c, role in channel_roles.items()}
        channels = {f"ch{c}": c for c in channel_roles}
    else:
        if segments and config.diarization.voice_check_min_ms:
            words = follow_voices(words, mono, lambda clip: embed_voice(diarization, clip),
                                  min_phrase_ms=config.diarization.voice_check_min_ms, overlapped=overlaps(speech))
        draft = build_turns(words, {}, max_pause_ms=config.turns.max_pause_ms, floor_words=config.turns.floor_words)
        roles = assign_roles_from_text(draft, config.roles.agent_cues, min_confidence=config.roles.min_confidence)
        channels = {}
    turns = tuple(build_turns(words, {s: r for s, (r, _) in roles.items()}, max_pause_ms=config.turns.max_pause_ms,
                              floor_words=config.turns.floor_words))
    speakers = tuple(Speaker(s, role, channels.get(s), conf) for s, (role, conf) in sorted(roles.items()))
    done("turns", turns)

    conversation = analyse_conversation(turns, audio.duration_ms, config.conversation)
    done("conversation", conversation)

    prosody = analyse_prosody(signals, turns, language=language, sr=SAMPLE_RATE_HZ, options=config.prosody,
                              segments=segments)
    done("prosody", prosody)

    events, agitation, customer_kind = detect_events(turns, conversation, prosody, config.detectors)
    done("detectors", events)

    rules, score = apply_rules(turns, events, audio.duration_ms, config.rules.pack_path(language),
                               config.rules.disabled)
    done("rules", score)

    return CallReport(
        call_id=call_id,
        source=Source(audio.path, audio.sha256, audio.duration_ms, audio.sample_rate_hz, audio.channels),
        language=language,
        models={k: v for k, v in models.describe().items() if k != "diarization" or not stereo},  # what was used
        speakers=speakers,
        turns=turns,
        conversation=conversation,
        timings_ms=timing.ms,
        options=CallOptions(layout="stereo" if stereo else "mono", config_digest=config.digest()),
        prosody=tuple(prosody),
        events=tuple(events),
        agitation=agitation,
        customer_kind=customer_kind,
        rules=tuple(rules),
        score=score,
        speech=tuple(speech),
    )


def _recognition_signals(signals: dict[str, np.ndarray], segments: list[SpeakerSegment],
                         config: Config) -> Iterator[tuple[str, np.ndarray]]:
    """(speaker, signal) pairs to recognise, the one with the most speech first.

    A stereo call gives each party's channel. A one-channel call gives each diarised speaker's own
    stretches of it, the others silenced, so that each word is recognised from, and belongs to, the
    speaker heard there: recognising the whole mix and placing words by their times put words on the
    wrong party wherever a Whisper segment ran across a change of speaker. Each signal is made when its
    turn comes, so at most one extra copy of a long call is held at a time.
    """
    if not segments:
        yield from sorted(signals.items(), key=lambda item: -float(np.mean(item[1] ** 2)))
        return
    (mono,) = signals.values()
    spans: dict[str, list[tuple[int, int]]] = {}
    for g in segments:
        spans.setdefault(g.speaker, []).append((g.begin_ms, g.end_ms))
    for speaker in sorted(spans, key=lambda s: -sum(e - b for b, e in spans[s])):
        others = [span for s, own in spans.items() if s != speaker for span in own]
        yield speaker, keep_spans(mono, spans[speaker], others, pad_ms=config.diarization.recognition_pad_ms)


def decode_and_analyze(path: str | Path, models: Models, config: Config, *,
                       hook: Hook | None = None) -> tuple[Audio, CallReport]:
    """Decode and analyse one file with models already loaded; the decoded audio comes back for the
    spot-check page and redacted copies, so nothing decodes a call twice."""
    call_id = call_id_for(path, config.report.call_id_pattern)
    timing = TimingHook(call_id)
    audio = decode_audio(path, silent_peak_dbfs=config.audio.silent_peak_dbfs)
    timing("decode", audio)
    if hook:
        hook("decode", audio)
    return audio, analyze_audio(audio, models, config, call_id=call_id, hook=hook, timing=timing)


def analyze_file(path: str | Path, models: Models, config: Config) -> CallReport:
    """Decode and analyse one file with models already loaded."""
    return decode_and_analyze(path, models, config)[1]


def analyze(path: str | Path, config: Config | str | Path | None = None, models: Models | None = None) -> CallReport:
    """Analyse one call recording: the Python API.

    Args:
        path: an audio file.
        config: a loaded :class:`Config`, a YAML path merged over the defaults, or None for the defaults.
        models: loaded models to reuse across calls; loaded here when None (slow: load once for many calls).
    """
    if not isinstance(config, Config):
        config = load_config(config)
    if models is None:
        models = load_models(config.models, config.diarization, lazy_diarization=True)
    return analyze_file(path, models, config)
