"""The data model shared by every stage: plain frozen dataclasses, times in integer milliseconds.

Intervals are half-open ``[begin_ms, end_ms)`` from the start of the recording, as in AWS Transcribe
Call Analytics output. Units live in field names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = "1.0"

AGENT = "agent"
CUSTOMER = "customer"
UNKNOWN = "unknown"
ROLES = (AGENT, CUSTOMER)


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
class Conversation:
    talk_time_ms: dict[str, int]
    non_talk: dict[str, Any]
    interruptions: tuple[Interruption, ...]
    backchannels: tuple[Backchannel, ...]
    talk_speed: dict[str, dict[str, float]]
    response_latency_ms: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Event:
    """A behaviour found in the call: ``type`` is customer_agitation, agent_freeze, agent_counter_escalation,
    dry_appeasement or monotone_agent; ``score`` is 0-1; ``evidence`` holds the feature values behind it."""

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
class Source:
    path: str
    sha256: str
    duration_ms: int
    sample_rate_hz: int
    channels: int


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
    prosody: tuple[Any, ...] = ()
    events: tuple[Event, ...] = ()
    agitation: dict[str, Any] = field(default_factory=dict)
    customer_kind: dict[str, Any] = field(default_factory=dict)
    rules: tuple[RuleResult, ...] = ()
    score: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the report (see the README for the schema)."""
        out = dataclasses.asdict(self)
        out = {"schema_version": out.pop("schema_version"), **out}
        for turn in out["turns"]:
            for word in turn["words"]:
                del word["speaker"]
        return out
