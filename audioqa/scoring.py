"""The scorecard: rule results weighed into a 0-100 total, fatal items, and flags for a supervisor.

:func:`apply_rules` is the one place rules are applied to a call, whether it was just analysed or is a
stored report being re-scored with a changed pack (:func:`rescore_report`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from .config import Config
from .errors import ConfigError
from .records import AGENT, CUSTOMER, CUSTOMER_AGITATION, CategoryScore, Event, RuleResult, Scorecard, Turn, Word
from .rules import CallView, Pack, evaluate_pack, load_pack


def unresolved_agitation(events: Sequence[Event], duration_ms: int, *, tail_ms: int = 30000) -> bool:
    """The customer is still agitated at the end: an agitation event reaching into the last ``tail_ms``."""
    return any(e.type == CUSTOMER_AGITATION and e.role == CUSTOMER and e.end_ms >= duration_ms - tail_ms
               for e in events)


def unscorable_reasons(turns: Sequence[Turn]) -> list[str]:
    """Why a call cannot be judged: ``no_speech`` (no words from anyone: hold music, a tone, DTMF, a
    dead line), or ``agent_silent`` / ``customer_silent`` (one party never heard: a dead channel)."""
    heard = {t.role for t in turns if t.words}
    if not heard:
        return ["no_speech"]
    return [f"{role}_silent" for role in (AGENT, CUSTOMER) if role not in heard]


def score_call(results: Sequence[RuleResult], events: Sequence[Event], duration_ms: int, *,
               pass_mark: float, unscorable: Sequence[str] = ()) -> Scorecard:
    """Weigh the applicable rules into a scorecard (a rule that does not apply is not scored).

    Args:
        pass_mark: the total (0-100) needed to pass, when no fatal rule failed.
        unscorable: why the call cannot be judged (:func:`unscorable_reasons`); such a call never passes.
    """
    applicable = [r for r in results if r.applicable]
    possible = sum(r.weight for r in applicable)
    earned = sum(r.weight for r in applicable if r.passed)
    total = round(100 * earned / possible, 1) if possible else 100.0
    fatal = any(r.severity == "fatal" and not r.passed for r in applicable)
    by_category: dict[str, CategoryScore] = {}
    for category in dict.fromkeys(r.category for r in applicable):
        own = [r for r in applicable if r.category == category]
        c_possible = sum(r.weight for r in own)
        c_earned = sum(r.weight if r.passed else 0.0 for r in own)
        by_category[category] = CategoryScore(c_earned, c_possible, tuple(r.id for r in own if not r.passed),
                                              round(100 * c_earned / c_possible, 1) if c_possible else 100.0)
    flags = [*unscorable, *sorted({r.flag for r in applicable if r.flag and not r.passed})]
    if unresolved_agitation(events, duration_ms):
        flags.append("unresolved_agitation")
    return Scorecard(total, total >= pass_mark and not fatal and not unscorable, fatal, pass_mark, by_category,
                     tuple(flags), scorable=not unscorable)


def check_packs(config: Config) -> None:
    """Load every configured rule pack once, before any call is analysed: a pack that cannot be read or
    is malformed stops the run at the start (RuleError naming file, line and rule), not after hours of ASR;
    so does a disabled rule id that no pack has (a typo would leave the rule on)."""
    known = {rule.id for language in config.rules.packs for rule in load_pack(config.rules.pack_path(language)).rules}
    unknown = sorted(set(config.rules.disabled) - known)
    if unknown:
        raise ConfigError(f"rules.disabled: no rule pack has {', '.join(unknown)}")


@functools.lru_cache(maxsize=8)
def _pack(path: str, mtime: float) -> Pack:
    return load_pack(path)


def apply_rules(turns: Sequence[Turn], events: Sequence[Event], duration_ms: int,
                pack_path: Path | None, disabled: Collection[str] = ()) -> tuple[list[RuleResult], Scorecard | None]:
    """Rule results and the scorecard; no pack for the language gives no rules and no scorecard.
    Rules in ``disabled`` (``rules.disabled``) are reported, with their hits, as not applicable: not scored."""
    if pack_path is None:
        return [], None
    pack = _pack(str(pack_path), pack_path.stat().st_mtime)
    results = [dataclasses.replace(r, applicable=False) if r.id in disabled else r
               for r in evaluate_pack(pack, CallView(turns, events, duration_ms))]
    return results, score_call(results, events, duration_ms, pass_mark=pack.pass_mark,
                               unscorable=unscorable_reasons(turns))


def turns_and_events(data: dict[str, Any]) -> tuple[list[Turn], list[Event]]:
    """The turns and detector events of a stored JSON report, as records."""
    turns = [Turn(t["speaker"], t["role"], t["begin_ms"], t["end_ms"], t["text"],
                  tuple(Word(w["text"], w["begin_ms"], w["end_ms"], w.get("prob", 1.0), t["speaker"]) for w in t["words"]))
             for t in data["turns"]]
    events = [Event(e["type"], e["speaker"], e["role"], e["begin_ms"], e["end_ms"], e["score"], e.get("evidence", {}))
              for e in data.get("events", [])]
    return turns, events


def rescore_report(data: dict[str, Any], pack_path: str | Path, disabled: Collection[str] = ()) -> dict[str, Any]:
    """A stored JSON report with ``rules`` and ``score`` recomputed from its turns and events with a pack
    (``disabled``: rule ids that do not apply)."""
    turns, events = turns_and_events(data)
    results, score = apply_rules(turns, events, data["source"]["duration_ms"], Path(pack_path), disabled)
    return {**data, "rules": [dataclasses.asdict(r) for r in results], "score": dataclasses.asdict(score),
            "options": {**data.get("options", {}), "rules_pack": str(pack_path)}}
