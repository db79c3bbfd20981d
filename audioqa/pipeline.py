"""One call, start to finish: the whole pipeline in one function.

decode ─► speakers (channels or diarisation) ─► transcribe (language detected on the way) ─► turns & roles
       ─► conversation ─► prosody ─► detectors ─► rules & score
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import asr
from .audio import SAMPLE_RATE_HZ, Audio, decode_audio, gate_leak, is_fake_stereo
from .config import Config, load_config
from .conversation import analyse_conversation
from .detectors import detect_events
from .diarise import diarise
from .errors import ConfigError
from .models import Models, load_models
from .prosody import analyse_prosody
from .records import AGENT, CUSTOMER, CallReport, Event, RuleResult, Source, Speaker, Turn
from .rules import CallView, Pack, evaluate_pack, load_pack
from .scoring import score_call
from .turns import assign_roles_from_text, assign_speakers, build_turns

logger = logging.getLogger("audioqa")


class _Timer:
    """Wall time per stage, in ms (the report's ``timings_ms``)."""

    def __init__(self) -> None:
        self.ms: dict[str, int] = {}

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        yield
        self.ms[name] = self.ms.get(name, 0) + round((time.perf_counter() - start) * 1000)


def call_id_for(path: str | Path, pattern: str | None) -> str:
    """The file stem, or the ``call_id`` group of ``pattern`` matched against it."""
    stem = Path(path).stem
    if pattern:
        match = re.search(pattern, stem)
        if match and match.groupdict().get("call_id"):
            return match.group("call_id")
    return stem


def _channel_roles(config: Config) -> dict[int, str]:
    agent, customer = config.channels.agent, config.channels.customer
    if {agent, customer} != {0, 1}:
        raise ConfigError(f"channels: a stereo call needs agent and customer on channels 0 and 1, got "
                          f"agent={agent}, customer={customer}")
    return {agent: AGENT, customer: CUSTOMER}


def analyze_audio(audio: Audio, models: Models, config: Config, *, call_id: str,
                  timer: _Timer | None = None) -> CallReport:
    """Analyse a decoded call with loaded models. See :func:`analyze` for the one-call entry point."""
    timer = timer or _Timer()
    stereo = audio.samples.shape[0] == 2 and not is_fake_stereo(
        audio.samples, min_corr=config.audio.fake_stereo_corr)

    diarization = None if stereo else models.diarization  # a lazy first load happens here, outside the timings
    with timer.stage("speakers"):
        if stereo:
            channel_roles = _channel_roles(config)
            signals = {f"ch{c}": s for c, s in enumerate(gate_leak(audio.samples, gate_db=config.audio.leak_gate_db))}
            segments = []
        else:
            mono = audio.samples.mean(axis=0).astype(np.float32)
            signals = {"": mono}
            if diarization is None:
                raise ConfigError("a one-channel call needs the diarisation pipeline, which was not loaded")
            segments = diarise(diarization, mono, config.diarization)

    with timer.stage("asr"):
        language = None if config.asr.language == "auto" else config.asr.language
        words = []
        # the loudest signal first: with language "auto" it decides the language for the others
        for speaker in sorted(signals, key=lambda s: -float(np.mean(signals[s] ** 2))):
            found, language = asr.transcribe(models.whisper, signals[speaker], language=language, options=config.asr,
                                             speaker=speaker)
            words += found

    with timer.stage("turns"):
        if stereo:
            roles = {f"ch{c}": (role, 1.0) for c, role in channel_roles.items()}
            channels = {f"ch{c}": c for c in channel_roles}
        else:
            words = assign_speakers(words, segments)
            draft = build_turns(words, {}, max_pause_ms=config.turns.max_pause_ms, floor_words=config.turns.floor_words)
            roles = assign_roles_from_text(draft, config.roles.agent_cues, min_confidence=config.roles.min_confidence)
            channels = {}
        turns = build_turns(words, {s: r for s, (r, _) in roles.items()}, max_pause_ms=config.turns.max_pause_ms,
                            floor_words=config.turns.floor_words)
        speakers = tuple(Speaker(s, role, channels.get(s), conf) for s, (role, conf) in sorted(roles.items()))

    with timer.stage("conversation"):
        conversation = analyse_conversation(turns, audio.duration_ms, config.conversation)

    with timer.stage("prosody"):
        prosody = analyse_prosody(signals, turns, language=language, sr=SAMPLE_RATE_HZ, options=config.prosody)

    with timer.stage("detectors"):
        events, agitation, customer_kind = detect_events(turns, conversation, prosody, config.detectors)

    with timer.stage("rules"):
        rules, score = apply_rules(turns, events, audio.duration_ms, config.rules.pack_path(language))

    return CallReport(
        call_id=call_id,
        source=Source(audio.path, audio.sha256, audio.duration_ms, audio.sample_rate_hz, audio.channels),
        language=language,
        models={k: v for k, v in models.describe().items() if k != "diarization" or not stereo},  # what was used
        speakers=speakers,
        turns=tuple(turns),
        conversation=conversation,
        timings_ms=timer.ms,
        prosody=tuple(prosody),
        events=tuple(events),
        agitation=agitation,
        customer_kind=customer_kind,
        rules=tuple(rules),
        score=score,
        options={"layout": "stereo" if stereo else "mono", "config_digest": config.digest()},
    )


@functools.lru_cache(maxsize=8)
def _pack(path: str, mtime: float) -> Pack:
    return load_pack(path)


def apply_rules(turns: Sequence[Turn], events: Sequence[Event], duration_ms: int,
                pack_path: Path | None) -> tuple[list[RuleResult], dict]:
    """Rule results and the scorecard; no pack for the language gives no rules and an empty score."""
    if pack_path is None:
        return [], {}
    pack = _pack(str(pack_path), pack_path.stat().st_mtime)
    results = evaluate_pack(pack, CallView(turns, events, duration_ms))
    return results, score_call(results, events, duration_ms, pass_mark=pack.pass_mark)


def decode_and_analyze(path: str | Path, models: Models, config: Config) -> tuple[Audio, CallReport]:
    """Decode and analyse one file with models already loaded; the decoded audio comes back for the
    spot-check page and redacted copies, so nothing decodes a call twice."""
    timer = _Timer()
    with timer.stage("decode"):
        audio = decode_audio(path, silent_peak_dbfs=config.audio.silent_peak_dbfs)
    return audio, analyze_audio(audio, models, config, call_id=call_id_for(path, config.report.call_id_pattern),
                                timer=timer)


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
