"""Configuration: the shipped ``audioqa/configs/default.yaml`` merged with a user file and CLI overrides,
validated once, when it is loaded.

Precedence, applied in :func:`load_config`: CLI overrides > the ``--config`` file > the defaults.
Each stage receives only its own section. The defaults and the rule packs are package data, read with
``importlib.resources``, so an installed wheel finds them from any directory.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

PACKAGE_DATA = resources.files("audioqa")  # holds configs/default.yaml and configs/rules/*.yaml
DEFAULT_CONFIG_PATH = PACKAGE_DATA / "configs" / "default.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelsOptions(_Section):
    whisper: str
    compute_type: str
    device: Literal["cpu", "cuda"]
    cpu_threads: int = Field(ge=0)
    onnx_cpu: bool
    cache_dir: str | None
    segmentation: str
    embedding: str


class AudioOptions(_Section):
    silent_peak_dbfs: float = Field(lt=0)
    fake_stereo_corr: float = Field(gt=0, le=1)
    leak_gate_db: float = Field(ge=0)


class ChannelMap(_Section):
    agent: int = Field(ge=0, le=1)
    customer: int = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _distinct(self) -> "ChannelMap":
        if self.agent == self.customer:
            raise ValueError(f"agent and customer need different channels (0 and 1), got both on {self.agent}")
        return self


class AsrOptions(_Section):
    language: Literal["auto", "zh", "en"]
    beam_size: int = Field(ge=1)
    vad_min_silence_ms: int = Field(ge=0)
    vad_speech_pad_ms: int = Field(ge=0)
    vad_threshold: float = Field(gt=0, lt=1)
    no_speech_threshold: float = Field(ge=0, le=1)
    log_prob_threshold: float
    min_avg_log_prob: float
    compression_ratio_threshold: float = Field(gt=0)
    repeated_min_word_prob: float = Field(ge=0, le=1)
    hallucination_silence_s: float | None
    gpu_batch_size: int = Field(ge=0)
    vocabulary: tuple[str, ...] = ()

    @field_validator("vocabulary", mode="before")
    @classmethod
    def _read_vocabulary(cls, value: Any) -> Any:
        """A list of the site's words, or the path of a text file with one per line (read at load time)."""
        if isinstance(value, (str, Path)):
            try:
                lines = Path(value).expanduser().read_text(encoding="utf-8").splitlines()
            except OSError as e:
                raise ValueError(f"cannot read the vocabulary file {value} ({e.strerror})") from None
            return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))
        return value


class DiarizationOptions(_Section):
    num_speakers: int | None = Field(ge=1)
    min_speakers: int | None = Field(ge=1)
    max_speakers: int | None = Field(ge=1)
    segmentation_step: float = Field(gt=0, le=1)
    segmentation_batch_size: int = Field(ge=1)
    embedding_batch_size: int = Field(ge=1)
    embedding_stride: int = Field(ge=1)
    clustering_threshold: float = Field(gt=0)
    min_cluster_size: int = Field(ge=1)
    recognition_pad_ms: int = Field(ge=0)
    voice_check_min_ms: int = Field(ge=0)


class TurnOptions(_Section):
    max_pause_ms: int = Field(ge=0)
    floor_words: int = Field(ge=1)


class RoleOptions(_Section):
    min_confidence: float = Field(ge=0, le=1)
    agent_cues: tuple[str, ...]


class ConversationOptions(_Section):
    backchannel_max_ms: int = Field(ge=0)
    backchannel_max_words: int = Field(ge=0)
    non_talk_min_ms: int = Field(ge=0)
    dead_air_ms: int = Field(ge=0)


_FEATURES = ("f0_st", "loudness_db", "alpha_db", "tilt_db_oct", "periodicity", "rate")  # prosody.FEATURES


class ProsodyOptions(_Section):
    frame_ms: int = Field(gt=0)
    hop_ms: int = Field(gt=0)
    f0_min_hz: float = Field(gt=0)
    f0_max_hz: float = Field(gt=0)
    series_hop_ms: int = Field(gt=0)
    phrase_pause_ms: int = Field(ge=0)
    phrase_min_ms: int = Field(ge=0)
    phrase_max_ms: int = Field(gt=0)
    untranscribed_pad_ms: int = Field(ge=0)
    baseline_exclude_share: float = Field(ge=0, lt=1)
    baseline_floor: dict[str, float]

    @model_validator(mode="after")
    def _complete(self) -> "ProsodyOptions":
        if set(self.baseline_floor) != set(_FEATURES) or any(v <= 0 for v in self.baseline_floor.values()):
            raise ValueError(f"baseline_floor needs a value > 0 for each of {', '.join(_FEATURES)}")
        if not self.f0_min_hz < self.f0_max_hz <= 8000:
            raise ValueError(f"need f0_min_hz={self.f0_min_hz} < f0_max_hz={self.f0_max_hz} <= 8000 (16 kHz audio)")
        if self.frame_ms < 2000 / self.f0_min_hz:
            raise ValueError(f"frame_ms={self.frame_ms} cannot hold two periods of f0_min_hz={self.f0_min_hz}: "
                             f"raise frame_ms to {int(-(-2000 // self.f0_min_hz))} or f0_min_hz")
        return self


_LEXICONS = ("abuse", "threat", "complaint", "counter", "empathy", "demand", "compensation", "immediacy")
_KIND_KEYS = ("irritable_peak", "repetition", "repetitive_share", "questions", "silent_share", "talkative_share",
              "talkative_turn_ms")


class DetectorOptions(_Section):
    min_speech_ms: int = Field(ge=0)
    arousal_weights: dict[str, float]
    arousal_center: float
    lexical_units: float
    interrupt_units: float
    agitation_threshold: float = Field(gt=0, lt=1)
    merge_gap_ms: int = Field(ge=0)
    freeze_dead_air_ms: int = Field(gt=0)
    freeze_after_agitation_ms: int = Field(gt=0)
    freeze_long_turn_ms: int = Field(gt=0)
    freeze_cut_off_count: int = Field(ge=1)
    freeze_cut_off_window_ms: int = Field(gt=0)
    escalation_window_ms: int = Field(ge=0)
    escalation_threshold: float = Field(gt=0, lt=1)
    escalation_min_loudness_z: float
    dry_rate_rel_min: float
    dry_range_ratio_max: float = Field(gt=0)
    monotone_range_st: float = Field(gt=0)
    monotone_min_speech_ms: int = Field(ge=0)
    kind: dict[str, float]
    lexicon: dict[str, tuple[str, ...]]

    @model_validator(mode="after")
    def _complete(self) -> "DetectorOptions":
        for name, keys, given in (("arousal_weights", _FEATURES, self.arousal_weights),
                                  ("kind", _KIND_KEYS, self.kind), ("lexicon", _LEXICONS, self.lexicon)):
            if set(given) != set(keys):
                raise ValueError(f"{name} must have exactly the keys {', '.join(keys)}")
        return self


class RulesOptions(_Section):
    packs: dict[str, str]
    disabled: tuple[str, ...] = ()  # rule ids that do not apply at this site (``audioqa calibrate`` writes these)

    def pack_path(self, language: str) -> Path | None:
        """The pack for a language, None if there is none. A relative path is taken from the working
        directory; if nothing is there, from audioqa's own files (``configs/rules/en.yaml`` is the shipped
        English pack wherever audioqa runs)."""
        path = self.packs.get(language)
        if path is None:
            return None
        path = Path(path).expanduser()
        if path.is_absolute() or path.exists():
            return path
        shipped = PACKAGE_DATA.joinpath(*path.parts)
        return Path(str(shipped)) if shipped.is_file() else path


def _regex(pattern: str | None) -> str | None:
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from None
    return pattern


class BatchOptions(_Section):
    filename_pattern: str | None
    timeout_s: int = Field(ge=0)
    timeout_per_audio_s: float = Field(ge=0)
    max_attempts: int = Field(ge=1)
    lease_s: float = Field(ge=5)
    extensions: tuple[str, ...]

    _pattern = field_validator("filename_pattern")(_regex)


class ReportOptions(_Section):
    call_id_pattern: str | None
    html: bool

    _pattern = field_validator("call_id_pattern")(_regex)


class Config(_Section):
    models: ModelsOptions
    audio: AudioOptions
    channels: ChannelMap
    asr: AsrOptions
    diarization: DiarizationOptions
    turns: TurnOptions
    roles: RoleOptions
    conversation: ConversationOptions
    prosody: ProsodyOptions
    detectors: DetectorOptions
    rules: RulesOptions
    batch: BatchOptions
    report: ReportOptions

    def digest(self) -> str:
        """A short hash of the effective configuration (stored with every result)."""
        text = json.dumps(self.model_dump(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path | Traversable) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Load and validate the configuration.

    Args:
        path: a YAML file merged over ``configs/default.yaml``; None for the defaults alone.
        overrides: nested mapping of values from the command line, merged last.

    Raises:
        ConfigError: naming every invalid field as ``section.field: problem``.
    """
    data = _read_yaml(DEFAULT_CONFIG_PATH)
    source = DEFAULT_CONFIG_PATH
    if path is not None:
        data = _merge(data, _read_yaml(Path(path)))
        source = Path(path)
    if overrides:
        data = _merge(data, overrides)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(".".join(str(p) for p in err["loc"]) + ": " + err["msg"] for err in e.errors())
        raise ConfigError(f"{source}: {problems}") from None
