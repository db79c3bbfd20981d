"""Words → turns, and who is the agent.

Pure functions over records: no model, no audio.
"""

from __future__ import annotations

from collections.abc import Sequence

from .records import AGENT, CUSTOMER, UNKNOWN, Turn, Word
from .text import compact, join_words


def build_turns(words: Sequence[Word], roles: dict[str, str], *, max_pause_ms: int, floor_words: int) -> list[Turn]:
    """Group each speaker's words into turns, sorted by start time.

    A speaker's turn ends at a pause longer than ``max_pause_ms``, or where the other party says at
    least ``floor_words`` words inside the pause (they took the floor); a shorter interjection such as
    a backchannel leaves the turn whole.
    """
    ordered = sorted(words, key=lambda w: (w.begin_ms, w.end_ms))
    turns = []
    for speaker in dict.fromkeys(w.speaker for w in ordered):
        own = [w for w in ordered if w.speaker == speaker]
        others = [w for w in ordered if w.speaker != speaker]
        current = [own[0]]
        for w in own[1:]:
            gap_begin, gap_end = current[-1].end_ms, w.begin_ms
            in_gap = sum(1 for o in others if o.begin_ms >= gap_begin and o.end_ms <= gap_end)
            if gap_end - gap_begin > max_pause_ms or in_gap >= floor_words:
                turns.append(_turn(current, roles))
                current = []
            current.append(w)
        turns.append(_turn(current, roles))
    return sorted(turns, key=lambda t: (t.begin_ms, t.end_ms))


def _turn(words: list[Word], roles: dict[str, str]) -> Turn:
    speaker = words[0].speaker
    return Turn(speaker, roles.get(speaker, UNKNOWN), words[0].begin_ms, max(w.end_ms for w in words),
                join_words(words), tuple(words))


def assign_roles_from_text(turns: Sequence[Turn], cues: Sequence[str], *,
                           min_confidence: float) -> dict[str, tuple[str, float]]:
    """Decide agent vs customer on a one-channel call from what each speaker says.

    Each speaker's score is the number of agent cues (greeting, self-introduction, offer of help)
    in their speech; the agent is the speaker with the higher score, with confidence
    ``0.5 + 0.5 * (top - second) / (top + second)``. Below ``min_confidence`` the first speaker to
    talk is taken as the agent (call centres answer first) and the confidence says so.

    Returns:
        speaker id → (role, confidence); speakers beyond the first two are "unknown".
    """
    order = list(dict.fromkeys(t.speaker for t in turns))
    if not order:
        return {}
    keys = [compact(c) for c in cues]
    score = {s: 0 for s in order}
    for t in turns:
        text = compact(t.text)
        score[t.speaker] += sum(text.count(k) for k in keys if k)
    ranked = sorted(order, key=lambda s: -score[s])  # stable: ties keep first-speaker order
    top, second = score[ranked[0]], (score[ranked[1]] if len(ranked) > 1 else 0)
    confidence = 0.5 + 0.5 * (top - second) / (top + second) if top + second else 0.5
    agent = ranked[0] if confidence >= min_confidence else order[0]
    talk_ms = {s: sum(t.end_ms - t.begin_ms for t in turns if t.speaker == s) for s in order}
    others = sorted((s for s in order if s != agent), key=lambda s: -talk_ms[s])
    customer = others[0] if others else None  # beyond two speakers, the one who talks most
    roles = {}
    for s in order:
        role = AGENT if s == agent else CUSTOMER if s == customer else UNKNOWN
        roles[s] = (role, round(confidence, 2) if role != UNKNOWN else 0.0)
    return roles

