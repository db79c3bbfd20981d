"""Rule packs: YAML files of QA rules, validated at load time with errors that name file, line and rule.

A pack::

    pack: zh-CN
    language: zh
    pass_mark: 70              # total score (0-100) needed to pass, when no fatal rule failed
    rules:
      - id: forbidden.dont_know
        category: forbidden_phrases
        description: 九不准: 我不知道
        severity: major        # info | minor | major | fatal
        weight: 5
        flag: null             # or escalation_threat / abuse: raised for a supervisor when the rule fires
        when: CONDITION        # optional: the rule applies only when this holds
        fail_if: CONDITION     # or pass_if: CONDITION
        examples: {pass: [EXAMPLE, ...], fail: [EXAMPLE, ...]}

A CONDITION is one of (combine freely):

- ``said: {phrases: [...] | regex: "...", match: normalised|exact|fuzzy|pinyin|regex, speaker: agent|customer|any,
  window: {first_s: N} | {last_s: N} | {between_s: [A, B]} | {percent: [A, B]}, min_count: N, distinct: bool,
  negation: forbid|require|ignore, inside_words: bool}``. Phrases match whole words; ``a ... b`` lets a few
  words stand between parts. ``negation`` (default forbid): a match right after a negation word (不用, 不必,
  别, don't need to, …) does not count; ``require`` counts only those; ``ignore`` both (exact and regex
  matches are never checked). ``inside_words``: a short Chinese phrase may match inside a longer word.
  ``match: semantic`` compares each clause with ``examples`` by meaning (sentence encoder): a clause at
  least ``threshold`` (cosine, default 0.7) like one example, and nearer to it than to any ``unlike``
  sentence (hard negatives), counts.
- ``all: [CONDITION, ...]``, ``any: [CONDITION, ...]``, ``not: CONDITION``
- ``before: {first: CONDITION, then: CONDITION}``: the first's earliest hit comes before the then's earliest
- ``within: {after: CONDITION, then: CONDITION, max_s: N}``: every hit of ``after`` is followed by one of
  ``then`` within N seconds
- ``event: {type: customer_agitation, min_score: 0.5, role: customer}``: a detector event happened
- ``after_event: {type: ..., then: CONDITION, within_s: N}``: every such event is answered within N s

An EXAMPLE is a list of ``"agent: text"`` / ``"customer: text"`` lines, or ``{turns: [...], events:
[{type, begin_s, end_s}]}`` when the rule reads detector events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import RuleError

SEVERITIES = ("info", "minor", "major", "fatal")
MATCH_MODES = ("exact", "normalised", "fuzzy", "pinyin", "regex", "semantic")
SPEAKERS = ("agent", "customer", "any")
NEGATION = ("forbid", "require", "ignore")
FLAGS = ("escalation_threat", "abuse")
_CONDITION_KEYS = ("said", "all", "any", "not", "before", "within", "event", "after_event")


class _LineLoader(yaml.SafeLoader):
    """Safe YAML loader that remembers the line of every mapping as ``__line__`` (1-based)."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    description: str
    severity: str
    weight: float
    condition: dict[str, Any]
    fail_if: bool
    when: dict[str, Any] | None
    flag: str | None
    examples: dict[str, list]
    line: int


@dataclass(frozen=True)
class Pack:
    name: str
    language: str
    pass_mark: float
    rules: tuple[Rule, ...]
    path: str


def strip_lines(node: Any) -> Any:
    """The same structure without the loader's ``__line__`` keys."""
    if isinstance(node, dict):
        return {k: strip_lines(v) for k, v in node.items() if k != "__line__"}
    if isinstance(node, list):
        return [strip_lines(v) for v in node]
    return node


def _check_condition(node: Any, where: str) -> None:
    if not isinstance(node, dict):
        raise ValueError(f"{where}: a condition must be a mapping with one of {', '.join(_CONDITION_KEYS)}")
    keys = [k for k in node if k != "__line__"]
    if len(keys) != 1 or keys[0] not in _CONDITION_KEYS:
        raise ValueError(f"{where}: expected exactly one of {', '.join(_CONDITION_KEYS)}, got {', '.join(keys) or 'nothing'}")
    kind, body = keys[0], node[keys[0]]
    here = f"{where}.{kind}"
    if kind in ("all", "any"):
        if not isinstance(body, list) or not body:
            raise ValueError(f"{here}: needs a non-empty list of conditions")
        for i, child in enumerate(body):
            _check_condition(child, f"{here}[{i}]")
    elif kind == "not":
        _check_condition(body, here)
    elif kind == "said":
        _check_said(body, here)
    elif kind == "before":
        _require(body, here, ("first", "then"))
        _check_condition(body["first"], f"{here}.first")
        _check_condition(body["then"], f"{here}.then")
    elif kind == "within":
        _require(body, here, ("after", "then", "max_s"))
        _check_condition(body["after"], f"{here}.after")
        _check_condition(body["then"], f"{here}.then")
        _number(body["max_s"], f"{here}.max_s")
    elif kind == "event":
        _require(body, here, ("type",), optional=("min_score", "role"))
    elif kind == "after_event":
        _require(body, here, ("type", "then", "within_s"), optional=("min_score",))
        _check_condition(body["then"], f"{here}.then")
        _number(body["within_s"], f"{here}.within_s")


def _require(body: Any, where: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    if not isinstance(body, dict):
        raise ValueError(f"{where}: must be a mapping with {', '.join(keys)}")
    missing = [k for k in keys if k not in body]
    unknown = [k for k in body if k not in keys + optional + ("__line__",)]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    if unknown:
        raise ValueError(f"{where}: unknown field {', '.join(unknown)}")


def _number(value: Any, where: str) -> None:
    if not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{where}: must be a number >= 0, got {value!r}")


def _check_said(body: Any, where: str) -> None:
    _require(body, where, (), optional=("phrases", "regex", "match", "speaker", "window", "min_count", "distinct",
                                        "negation", "inside_words", "examples", "unlike", "threshold"))
    if body.get("negation", "forbid") not in NEGATION:
        raise ValueError(f"{where}.negation: {body['negation']!r} is not one of {', '.join(NEGATION)}")
    mode = body.get("match", "regex" if "regex" in body else "normalised")
    if mode not in MATCH_MODES:
        raise ValueError(f"{where}.match: {mode!r} is not one of {', '.join(MATCH_MODES)}")
    if mode == "semantic":
        for key in ("examples", "unlike"):
            if key in body and (not isinstance(body[key], list) or not all(isinstance(x, str) for x in body[key])):
                raise ValueError(f"{where}.{key}: needs a list of sentences")
        if not body.get("examples"):
            raise ValueError(f"{where}: match semantic needs examples (sentences that mean what the rule looks for)")
        if not isinstance(body.get("threshold", 0.7), (int, float)) or not 0 < body.get("threshold", 0.7) < 1:
            raise ValueError(f"{where}.threshold: a cosine similarity between 0 and 1")
    elif mode == "regex":
        if not isinstance(body.get("regex"), str):
            raise ValueError(f"{where}: match regex needs a regex string")
        try:
            re.compile(body["regex"])
        except re.error as e:
            raise ValueError(f"{where}.regex: {e}") from None
    elif not isinstance(body.get("phrases"), list) or not body["phrases"] or \
            not all(isinstance(p, (str, int)) for p in body["phrases"]):
        raise ValueError(f"{where}.phrases: needs a non-empty list of phrases")
    if body.get("speaker", "any") not in SPEAKERS:
        raise ValueError(f"{where}.speaker: {body['speaker']!r} is not one of {', '.join(SPEAKERS)}")
    window = body.get("window")
    if window is not None:
        _require(window, f"{where}.window", (), optional=("first_s", "last_s", "between_s", "percent"))
        if len([k for k in window if k != "__line__"]) != 1:
            raise ValueError(f"{where}.window: give exactly one of first_s, last_s, between_s, percent")
    if "min_count" in body:
        _number(body["min_count"], f"{where}.min_count")


def _parse_rule(raw: Any, index: int, path: str) -> Rule:
    line = raw.get("__line__", 0) if isinstance(raw, dict) else 0
    rule_id = raw.get("id", f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
    try:
        if not isinstance(raw, dict):
            raise ValueError("a rule must be a mapping")
        _require(raw, "rule", ("id", "category", "severity", "weight"),
                 optional=("description", "fail_if", "pass_if", "when", "flag", "examples"))
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", str(raw["id"])):
            raise ValueError("id: letters, digits, '.', '_' and '-' only")
        if raw["severity"] not in SEVERITIES:
            raise ValueError(f"severity: {raw['severity']!r} is not one of {', '.join(SEVERITIES)}")
        _number(raw["weight"], "weight")
        if ("fail_if" in raw) == ("pass_if" in raw):
            raise ValueError("give exactly one of fail_if or pass_if")
        condition = raw.get("fail_if", raw.get("pass_if"))
        _check_condition(condition, "fail_if" if "fail_if" in raw else "pass_if")
        if raw.get("when") is not None:
            _check_condition(raw["when"], "when")
        if raw.get("flag") not in (None,) + FLAGS:
            raise ValueError(f"flag: {raw['flag']!r} is not one of {', '.join(FLAGS)}")
        examples = raw.get("examples") or {}
        if not isinstance(examples, dict) or set(examples) - {"pass", "fail", "__line__"}:
            raise ValueError("examples: a mapping with pass and fail lists")
    except ValueError as e:
        raise RuleError(f"{path}:{line}: rule {rule_id}: {e}") from None
    return Rule(str(raw["id"]), str(raw["category"]), str(raw.get("description", "")), raw["severity"],
                float(raw["weight"]), strip_lines(condition), "fail_if" in raw, strip_lines(raw.get("when")),
                raw.get("flag"), {k: strip_lines(v) for k, v in examples.items() if k != "__line__"}, line)


def parse_pack(text: str, path: str = "<pack>") -> Pack:
    """Parse and validate a pack's YAML text.

    Raises:
        RuleError: with ``path:line: rule ID: problem`` for the first problem found.
    """
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        raise RuleError(f"{path}:{line}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError(f"{path}:1: a pack is a mapping with a list of rules")
    rules = [_parse_rule(raw, i, path) for i, raw in enumerate(data["rules"])]
    seen: dict[str, int] = {}
    for rule in rules:
        if rule.id in seen:
            raise RuleError(f"{path}:{rule.line}: rule {rule.id}: duplicate id (first at line {seen[rule.id]})")
        seen[rule.id] = rule.line
    return Pack(str(data.get("pack", Path(path).stem)), str(data.get("language", "")),
                float(data.get("pass_mark", 70)), tuple(rules), path)


def load_pack(path: str | Path) -> Pack:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise RuleError(f"{path}:0: cannot read ({e.strerror})") from None
    return parse_pack(text, str(path))
