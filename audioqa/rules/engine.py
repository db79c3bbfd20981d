"""Evaluating rule conditions on a call's turns and detector events."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..records import Event, RuleHit, RuleResult, Turn, Word
from ..text import (NEGATION_CUES, IndexedText, find_fuzzy, find_normalised, find_pinyin, join_words, negated,
                    normalise, split_words)
from .pack import Pack, Rule
from .semantic import clauses, similar



@dataclass
class CallView:
    """What rules can see of a call: turns (with words), detector events and the call's length."""

    turns: Sequence[Turn]
    events: Sequence[Event] = ()
    duration_ms: int = 0
    _index: dict[tuple[int, bool], IndexedText] = field(default_factory=dict)

    def index(self, turn: int, *, digits: bool = True) -> IndexedText:
        key = (turn, digits)
        if key not in self._index:
            self._index[key] = IndexedText.from_words(self.turns[turn].words, digits=digits)
        return self._index[key]


def _in_window(begin_ms: int, window: dict[str, Any] | None, duration_ms: int) -> bool:
    if not window:
        return True
    if "first_s" in window:
        return begin_ms < window["first_s"] * 1000
    if "last_s" in window:
        return begin_ms >= duration_ms - window["last_s"] * 1000
    if "between_s" in window:
        a, b = window["between_s"]
        return a * 1000 <= begin_ms < b * 1000
    a, b = window["percent"]
    return a / 100 * duration_ms <= begin_ms < b / 100 * duration_ms


def _hit(view: CallView, turn: int, first: int, last: int) -> RuleHit:
    t = view.turns[turn]
    words = t.words[first:last + 1]
    return RuleHit(turn, t.speaker, t.role, words[0].begin_ms, words[-1].end_ms, join_words(words))


def find_said(view: CallView, spec: dict[str, Any]) -> list[tuple[RuleHit, str]]:
    """Every match of a ``said`` condition: (hit, the phrase or pattern that matched)."""
    mode = spec.get("match", "regex" if "regex" in spec else "normalised")
    speaker = spec.get("speaker", "any")
    negation = spec.get("negation", "forbid")
    found = []
    for i, t in enumerate(view.turns):
        if speaker != "any" and t.role != speaker or not t.words:
            continue
        if mode == "semantic":
            spans = clauses(t.words)
            texts = [join_words(t.words[a:b + 1]) for a, b in spans]
            for (first, last), like in zip(spans, similar(texts, spec["examples"], spec.get("unlike", []),
                                                          spec.get("threshold", 0.7))):
                if like:
                    found.append((_hit(view, i, first, last), "semantic"))
            continue
        if mode == "regex":
            text = t.text
            starts = _char_starts(t.words)
            for m in re.finditer(spec["regex"], text, flags=re.IGNORECASE):
                first, last = _words_for_chars(starts, m.start(), m.end())
                found.append((_hit(view, i, first, last), spec["regex"]))
            continue
        for phrase in map(str, spec["phrases"]):
            if mode == "exact":
                starts = _char_starts(t.words)
                spans = [(m.start(), m.end()) for m in re.finditer(re.escape(phrase), t.text)]
                pairs = [_words_for_chars(starts, a, b) for a, b in spans]
            else:
                index = view.index(i, digits=mode != "pinyin")
                if mode == "pinyin":
                    spans = find_pinyin(index, phrase, inside_words=spec.get("inside_words", False))
                elif mode == "fuzzy":
                    spans = find_fuzzy(index, phrase)
                else:
                    spans = find_normalised(index, phrase, inside_words=spec.get("inside_words", False))
                if negation != "ignore":
                    spans = [(a, b) for a, b in spans if negated(index, a, NEGATION_CUES) == (negation == "require")]
                pairs = [index.words_in(a, b) for a, b in spans]
            found.extend((_hit(view, i, first, last), phrase) for first, last in pairs)
    found = [(h, p) for h, p in found if _in_window(h.begin_ms, spec.get("window"), view.duration_ms)]
    return _outermost(found)


def _outermost(found: list[tuple[RuleHit, str]]) -> list[tuple[RuleHit, str]]:
    """Hits not lying inside a longer hit of the same turn (非常抱歉 covers 抱歉: one hit, not two)."""
    kept: list[tuple[RuleHit, str]] = []
    for hit, phrase in sorted(found, key=lambda f: (f[0].turn, f[0].begin_ms, -f[0].end_ms)):
        if not any(k.turn == hit.turn and k.begin_ms <= hit.begin_ms and hit.end_ms <= k.end_ms for k, _ in kept):
            kept.append((hit, phrase))
    return kept


def _char_starts(words: Sequence[Word]) -> list[int]:
    """Start offset of each word in ``join_words(words)``."""
    starts, text = [], ""
    for w in words:
        joined = join_words([Word(text, 0, 0, 1.0), w]) if text else w.text
        starts.append(len(joined) - len(w.text))
        text = joined
    return starts


def _words_for_chars(starts: list[int], begin: int, end: int) -> tuple[int, int]:
    first = max(i for i, s in enumerate(starts) if s <= begin)
    last = max(i for i, s in enumerate(starts) if s < max(end, begin + 1))
    return first, last


def _distinct(found: list[tuple[RuleHit, str]]) -> int:
    """Different phrases said in different places: two phrases matching the same words ("do my best" and
    "do my ... best") count once, and so does one phrase said twice."""
    kept: list[RuleHit] = []
    phrases = set()
    for hit, phrase in sorted(found, key=lambda f: (f[0].turn, f[0].begin_ms, -f[0].end_ms)):
        if any(k.turn == hit.turn and k.begin_ms < hit.end_ms and hit.begin_ms < k.end_ms for k in kept):
            continue
        if normalise(phrase) not in phrases:
            kept.append(hit)
            phrases.add(normalise(phrase))
    return len(phrases)


def _event_hit(e: Event) -> RuleHit:
    return RuleHit(-1, e.speaker, e.role, e.begin_ms, e.end_ms, f"[{e.type} {e.score:.2f}]")


def _events(view: CallView, spec: dict[str, Any]) -> list[Event]:
    return [e for e in view.events if e.type == spec["type"] and e.score >= spec.get("min_score", 0.0)
            and spec.get("role", e.role) == e.role]


def evaluate(condition: dict[str, Any], view: CallView) -> tuple[bool, list[RuleHit]]:
    """Whether a condition holds on the call, and the hits that show it (or that broke it)."""
    kind, body = next(iter(condition.items()))
    if kind == "said":
        found = find_said(view, body)
        count = _distinct(found) if body.get("distinct") else len(found)
        return count >= body.get("min_count", 1), [h for h, _ in found]
    if kind == "all":
        results = [evaluate(c, view) for c in body]
        return all(ok for ok, _ in results), [h for _, hits in results for h in hits]
    if kind == "any":
        results = [evaluate(c, view) for c in body]
        return any(ok for ok, _ in results), [h for ok, hits in results if ok for h in hits]
    if kind == "not":
        ok, hits = evaluate(body, view)
        return not ok, hits
    if kind == "before":
        ok_first, first = evaluate(body["first"], view)
        ok_then, then = evaluate(body["then"], view)
        if not ok_then:
            return True, first  # nothing to come after: order cannot be broken
        if not ok_first:
            return False, then
        earliest_first = min(h.begin_ms for h in first)
        earliest_then = min(h.begin_ms for h in then)
        return earliest_first <= earliest_then, sorted(first + then, key=lambda h: h.begin_ms)[:2]
    if kind == "within":
        _, after = evaluate(body["after"], view)
        _, then = evaluate(body["then"], view)
        missed = [a for a in after if not any(a.begin_ms <= t.begin_ms <= a.end_ms + body["max_s"] * 1000
                                               for t in then)]
        return not missed, missed or then
    if kind == "event":
        events = _events(view, body)
        return bool(events), [_event_hit(e) for e in events]
    if kind == "after_event":
        events = _events(view, body)
        _, then = evaluate(body["then"], view)
        missed = [e for e in events if not any(e.begin_ms <= t.begin_ms <= e.begin_ms + body["within_s"] * 1000
                                                for t in then)]
        return not missed, [_event_hit(e) for e in missed] or then
    raise ValueError(f"unknown condition {kind!r}")  # the pack loader refuses these first


def evaluate_rule(rule: Rule, view: CallView) -> RuleResult:
    """Pass or fail one rule; a rule whose ``when`` does not hold is not applicable (and passes)."""
    if rule.when is not None and not evaluate(rule.when, view)[0]:
        return RuleResult(rule.id, rule.category, rule.severity, rule.weight, True, False, (), rule.description,
                          rule.flag)
    holds, hits = evaluate(rule.condition, view)
    passed = not holds if rule.fail_if else holds
    shown = hits if holds or not rule.fail_if else ()  # a fail_if rule that passed has nothing to show
    return RuleResult(rule.id, rule.category, rule.severity, rule.weight, passed, True,
                      tuple(sorted(set(shown), key=lambda h: (h.begin_ms, h.turn))), rule.description, rule.flag)


def evaluate_pack(pack: Pack, view: CallView) -> list[RuleResult]:
    return [evaluate_rule(rule, view) for rule in pack.rules]


def example_view(example: Any) -> CallView:
    """A small call built from a pack example: ``"role: text"`` lines, 3 s per turn."""
    lines = example["turns"] if isinstance(example, dict) else example
    turns, cursor = [], 0
    for line in lines:
        role, _, text = str(line).partition(":")
        role = role.strip().lower()
        tokens = split_words(text)
        step = max(1, 3000 // max(1, len(tokens)))
        words = tuple(Word(tok, cursor + k * step, cursor + (k + 1) * step, 1.0, role) for k, tok in enumerate(tokens))
        turns.append(Turn(role, role, cursor, cursor + 3000, join_words(words), words))
        cursor += 3500
    events = []
    if isinstance(example, dict):
        for e in example.get("events", []):
            events.append(Event(e["type"], e.get("role", "customer"), e.get("role", "customer"),
                                int(e["begin_s"] * 1000), int(e["end_s"] * 1000), float(e.get("score", 0.9)), {}))
    return CallView(turns, events, cursor)


def run_examples(pack: Pack) -> list[str]:
    """Run every rule's examples; return one line per example that does not behave as stated."""
    failures = []
    for rule in pack.rules:
        for expected in ("pass", "fail"):
            for k, example in enumerate(rule.examples.get(expected, [])):
                result = evaluate_rule(rule, example_view(example))
                if result.passed != (expected == "pass") or not result.applicable:
                    state = "not applicable" if not result.applicable else ("passed" if result.passed else "failed")
                    failures.append(f"{pack.path}:{rule.line}: rule {rule.id}: {expected} example {k + 1} {state}")
    return failures
