"""The data model shared by every stage: plain frozen dataclasses, times in integer milliseconds.

Intervals are half-open ``[begin_ms, end_ms)`` from the start of the recording, as in AWS Transcribe
Call Analytics output. Units live in field names.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = "1.1"

AGENT = "agent"
CUSTOMER = "customer"
UNKNOWN = "unknown"
ROLES = (AGENT, CUSTOMER)

# Detector event types (``Event.type``): the one list that detectors, rules, exports and pages share.
CUSTOMER_AGITATION = "customer_agitation"
AGENT_FREEZE = "agent_freeze"
AGENT_COUNTER_ESCALATION = "agent_counter_escalation"
DRY_APPEASEMENT = "dry_appeasement"
MONOTONE_AGENT = "monotone_agent"
EVENT_TYPES = (CUSTOMER_AGITATION, AGENT_FREEZE, AGENT_COUNTER_ESCALATION, DRY_APPEASEMENT, MONOTONE_AGENT)


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word (for Chinese, usually one or a few characters)."""

    text: str
    begin_ms: int
    end_ms: int
    prob: float
    speaker: str = ""


@dataclass(frozen=True, slots=True)
class SpeakerSegment:
    """A stretch of time attributed to one speaker label (from diarisation or a channel)."""

    speaker: str
    begin_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Speaker:
    id: str
    role: str
    channel: int | None
    role_confidence: float


@dataclass(frozen=True, slots=True)
class Turn:
    """A maximal run of one speaker's words."""

    speaker: str
    role: str
    begin_ms: int
    end_ms: int
    text: str
    words: tuple[Word, ...]


@dataclass(frozen=True, slots=True)
class Span:
    begin_ms: int
    end_ms: int

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.begin_ms


@dataclass(frozen=True, slots=True)
class Interruption:
    """``interrupter`` started speaking while ``interrupted`` was mid-turn; the span is the overlap."""

    interrupter: str
    interrupter_role: str
    interrupted: str
    begin_ms: int
    end_ms: int
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Backchannel:
    """A short token ("嗯", "yeah") said over the other party's turn: listening, not interrupting."""

    speaker: str
    role: str
    begin_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True, slots=True)
class Latency:
    """The agent's response time after a customer turn (negative: the agent started before it ended)."""

    after_turn: int
    customer_end_ms: int
    agent_begin_ms: int
    latency_ms: int


@dataclass(frozen=True, slots=True)
class ResponseLatency:
    """The agent's response times over the call; above ``conversation.dead_air_ms`` a latency is dead air."""

    mean: int | None
    max: int | None
    dead_air_count: int
    items: tuple[Latency, ...]


@dataclass(frozen=True, slots=True)
class Silence:
    """A stretch where nobody speaks."""

    begin_ms: int
    end_ms: int
    duration_ms: int


@dataclass(frozen=True, slots=True)
class NonTalk:
    total_ms: int
    spans: tuple[Silence, ...]


@dataclass(frozen=True, slots=True)
class Conversation:
    """Conversation metrics as AWS Transcribe Call Analytics defines them; ``talk_time_ms`` and
    ``talk_speed`` are keyed by role (``talk_speed`` has ``chars_per_minute`` for Chinese only)."""

    talk_time_ms: dict[str, int]
    non_talk: NonTalk
    interruptions: tuple[Interruption, ...]
    backchannels: tuple[Backchannel, ...]
    talk_speed: dict[str, dict[str, float]]
    response_latency_ms: ResponseLatency


@dataclass(frozen=True, slots=True)
class Event:
    """A behaviour found in the call: ``type`` is one of ``EVENT_TYPES``; ``score`` is 0-1; ``evidence``
    holds the feature values behind it."""

    type: str
    speaker: str
    role: str
    begin_ms: int
    end_ms: int
    score: float
    evidence: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RuleHit:
    """Where a rule's condition found something: a phrase in a turn, or a detector event (turn -1)."""

    turn: int
    speaker: str
    role: str
    begin_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True, slots=True)
class RuleResult:
    id: str
    category: str
    severity: str
    weight: float
    passed: bool
    applicable: bool
    hits: tuple[RuleHit, ...]
    description: str = ""
    flag: str | None = None


@dataclass(frozen=True, slots=True)
class AgitationPeak:
    score: float
    turn: int
    begin_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Agitation:
    """Call-level customer agitation: the speech-weighted mean over customer phrases (0-1), and the peak."""

    score: float = 0.0
    peak: AgitationPeak | None = None


@dataclass(frozen=True, slots=True)
class CustomerKind:
    """The kind of customer (DOMAIN.md §1) from behaviour and words: irritable, repetitive,
    rational_demanding, leveraging, silent, talkative or none."""

    kind: str = "none"
    confidence: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)
    candidates: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CategoryScore:
    earned: float
    possible: float
    failed: tuple[str, ...]
    score: float


@dataclass(frozen=True, slots=True)
class Scorecard:
    """Applicable rules weighed into ``total`` (0-100); a failed fatal rule fails the call whatever the total.
    A call with no speech, or one party never heard, is not ``scorable``: it never passes, and its flags
    say why (``no_speech``, ``agent_silent``, ``customer_silent``)."""

    total: float
    passed: bool
    fatal: bool
    pass_mark: float
    by_category: dict[str, CategoryScore]
    flags: tuple[str, ...]
    scorable: bool = True


@dataclass(frozen=True, slots=True)
class Baseline:
    """A speaker's calm reference: per feature the median over their calmer phrases, and a scale
    (1.4826 × MAD across those phrases, never below the configured floor) in the feature's unit."""

    median: dict[str, float | None]
    scale: dict[str, float]
    f0_range_st: float | None
    phrases_used: int


@dataclass(frozen=True, slots=True)
class SegmentProsody:
    """One turn, or one phrase within it: absolute values, and ``z`` against the speaker's baseline.
    ``transcribed`` is False for speech on the speaker's channel that the recogniser gave no words
    (shouting, crying, a sentence said again); it belongs to the speaker's nearest turn."""

    turn: int
    begin_ms: int
    end_ms: int
    speech_ms: int
    f0_median_hz: float | None
    f0_rel_st: float | None
    f0_range_st: float | None
    loudness_db: float | None
    loudness_rel_db: float | None
    rate: float | None
    rate_rel: float | None
    z: dict[str, float]
    transcribed: bool = True


@dataclass(frozen=True, slots=True)
class SpeakerProsody:
    """One speaker's prosody: per turn, per phrase (a few seconds of speech between pauses), the
    baseline, the pitch range over the whole call, a ~10 Hz series and a 0-100 loudness score per second."""

    speaker: str
    role: str
    f0_tracker: str
    baseline: Baseline
    f0_range_call_st: float | None
    turns: tuple[SegmentProsody, ...]
    phrases: tuple[SegmentProsody, ...]
    series: dict[str, list]
    loudness_score: dict[str, list[int]]


@dataclass(frozen=True, slots=True)
class Source:
    path: str
    sha256: str
    duration_ms: int
    sample_rate_hz: int
    channels: int


@dataclass(frozen=True, slots=True)
class RedactedSpan:
    type: str
    begin_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class CallOptions:
    """How the call was analysed; the optional fields appear in the JSON only when set."""

    layout: str
    config_digest: str
    redacted: bool | None = None
    redactions: tuple[RedactedSpan, ...] | None = None
    rules_pack: str | None = None


@dataclass(frozen=True, slots=True)
class CallReport:
    call_id: str
    source: Source
    language: str
    models: dict[str, str]
    speakers: tuple[Speaker, ...]
    turns: tuple[Turn, ...]
    conversation: Conversation
    timings_ms: dict[str, int]
    options: CallOptions
    prosody: tuple[SpeakerProsody, ...] = ()
    events: tuple[Event, ...] = ()
    agitation: Agitation = Agitation()
    customer_kind: CustomerKind = CustomerKind()
    rules: tuple[RuleResult, ...] = ()
    score: Scorecard | None = None  # None: no rule pack for the call's language
    speech: tuple[SpeakerSegment, ...] = ()  # who spoke when, from the audio (voice activity or diarisation)
    schema_version: str = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the report (see the README for the schema)."""
        out = dataclasses.asdict(self)
        options = out.pop("options")
        out = {"schema_version": out.pop("schema_version"), **out, "score": out["score"] or {},
               "options": {k: v for k, v in options.items() if v is not None}}
        for turn in out["turns"]:
            for word in turn["words"]:
                del word["speaker"]
        return out


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """A record (nested records included) from its JSON form, e.g. ``from_dict(CallReport, report)`` for a
    stored report; fields missing from ``data`` take their defaults."""
    values: dict[str, Any] = {}
    if cls is CallReport:  # no scorecard is {} in JSON; options may lack what a record requires
        values["score"] = from_dict(Scorecard, data["score"]) if data.get("score") else None
        values["options"] = from_dict(CallOptions, {"layout": "", "config_digest": "", **data.get("options", {})})
    hints = typing.get_type_hints(cls)
    values |= {f.name: _typed(hints[f.name], data[f.name]) for f in dataclasses.fields(cls)
               if f.name in data and f.name not in values}
    if cls is Turn:  # the JSON form leaves out each word's speaker: it is the turn's
        values["words"] = tuple(dataclasses.replace(w, speaker=values["speaker"]) for w in values["words"])
    return cls(**values)


def _typed(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value)
    if origin in (typing.Union, types.UnionType):
        return _typed(next(a for a in args if a is not type(None)), value)
    if origin is tuple:
        return tuple(_typed(args[0], v) for v in value)
    if origin is dict and dataclasses.is_dataclass(args[1]):
        return {k: _typed(args[1], v) for k, v in value.items()}
    return value
