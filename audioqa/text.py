"""Text normalisation and phrase matching over recognised words, for rules and redaction.

A turn's words are indexed once (:class:`IndexedText`): a normalised string, its pinyin tokens, and
for every character the word it came from, so that a match anywhere can be turned back into times.

Normalisation: Unicode NFKC (full width → half width), lower case, traditional → simplified Chinese,
English contractions spelt out (don't = dont = do not, I'll = I will), other apostrophes dropped, other
punctuation and spaces dropped (one space kept between Latin words), Chinese digit characters → digits.
Pinyin matching compares toneless syllables, so ASR homophone slips (招拼 for 招聘, 小鞋 for 消协) still
match while unrelated text does not.

Phrases match whole words: a Latin phrase never starts or ends inside a word ("sue" is not in "issue"),
and a short Chinese phrase (up to three characters) must start and end where jieba's segmentation of the
turn puts word edges (垃圾 is not in 垃圾桶). ``a ... b`` in a phrase lets a few words sit between its
parts (找 ... 经理 finds 找一下我们经理). :func:`negated` tells whether a negation word stands just
before a match (您不必去找主管 is not an order to go and see the manager).
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from .records import Word

_CJK_RANGE = "\u3400-\u9fff\uf900-\ufaff"  # CJK unified ideographs (extension A and compatibility included)
CJK = re.compile(f"[{_CJK_RANGE}]")  # one Chinese character
_TOKEN = re.compile(f"[{_CJK_RANGE}]|[^\\s{_CJK_RANGE}]+")
_SHORT_CJK = 3  # Chinese phrases up to this length must match whole jieba words
_GAP = "..."     # in a phrase: a few words may stand here
_A_NOT_A = re.compile(f"([{_CJK_RANGE}])[不没]\\1")
_MAX_GAP_CJK, _MAX_GAP_WORDS = 4, 3  # characters of Chinese, or Latin words, a gap may hold
# Words that, just before a phrase, turn it around: "您不必去找主管" is the agent taking the call over,
# "不是不行" is not a refusal, "you don't need to talk to a manager" is not sending the caller away.
NEGATION_CUES = ("不用", "不需要", "不必", "无需", "没必要", "不是", "并不", "别", "不要", "没有",
                 "don't need to", "do not need to", "no need to", "don't have to", "do not have to",
                 "will not", "not")
_DIGITS = str.maketrans({"零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3",
                         "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"})


@functools.lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese; other scripts pass through unchanged."""
    return _t2s().convert(text)


def is_cjk(ch: str) -> bool:
    return bool(CJK.match(ch))


def split_words(text: str) -> list[str]:
    """Words as a recogniser gives them: each Chinese character alone, other runs of non-space whole."""
    return _TOKEN.findall(text)


def join_words(words: Iterable[Word]) -> str:
    """Join word texts: no space between Chinese characters, one space between other words."""
    out = ""
    for w in words:
        if out and not (CJK.search(out[-1]) or CJK.match(w.text)):
            out += " "
        out += w.text
    return out


# English contractions spelt out, so "I'll do my best" matches "I will do my best"; forms written without
# the apostrophe are expanded only where they cannot be another word ("ill", "its" and "were" stay).
_CONTRACTIONS = {"n't": " not", "'ll": " will", "'re": " are", "'ve": " have", "'m": " am", "'d": " would"}
_CONTRACTION = re.compile(r"(?<=[a-z])(n't|'ll|'re|'ve|'m|'d)\b")
_BARE = {"dont": "do not", "doesnt": "does not", "didnt": "did not", "cant": "can not", "couldnt": "could not",
         "wouldnt": "would not", "shouldnt": "should not", "isnt": "is not", "arent": "are not", "wasnt": "was not",
         "werent": "were not", "havent": "have not", "hasnt": "has not", "im": "i am", "youre": "you are",
         "theyre": "they are", "youll": "you will", "youve": "you have", "ive": "i have", "thats": "that is",
         "theres": "there is", "whats": "what is", "cannot": "can not", "wont": "will not", "gonna": "going to",
         "wanna": "want to"}
_BARE_WORD = re.compile(r"\b(" + "|".join(_BARE) + r")\b")


def _clean(text: str) -> str:
    """NFKC, lower case, simplified Chinese, English contractions spelt out; punctuation becomes a space."""
    text = to_simplified(unicodedata.normalize("NFKC", text).lower()).replace("\u2019", "'")
    text = text.replace("won't", "will not").replace("can't", "can not")
    text = _CONTRACTION.sub(lambda m: _CONTRACTIONS[m.group(1)], text)
    text = text.replace("'", "")  # it's = its, as recognisers write it
    text = _BARE_WORD.sub(lambda m: _BARE[m.group(1)], text)
    return "".join(ch if ch.isalnum() else " " for ch in text)


@functools.lru_cache(maxsize=16384)  # cue and rule phrases are normalised again for every turn they are sought in
def normalise(text: str, *, digits: bool = True) -> str:
    """The normalised form of a phrase (see the module docstring)."""
    return IndexedText.from_words([Word(text, 0, 0, 1.0)], digits=digits).text


def compact(text: str) -> str:
    """The normalised form with no spaces at all (for counting cues and repeated n-grams)."""
    return normalise(text).replace(" ", "")


@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


@functools.lru_cache(maxsize=8192)
def _pinyin(ch: str) -> str:
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(ch, style=Style.NORMAL)[0]


@dataclass(frozen=True)
class IndexedText:
    """A normalised string with, for each character, the index of the word it came from (-1: a separator)."""

    text: str
    word_of: tuple[int, ...]

    @classmethod
    def from_words(cls, words: Sequence[Word], *, digits: bool = True) -> "IndexedText":
        chars: list[str] = []
        owner: list[int] = []
        for i, w in enumerate(words):
            for ch in _clean(w.text):
                if ch == " ":
                    if chars and chars[-1] != " ":
                        chars.append(" ")
                        owner.append(-1)
                    continue
                if digits:
                    ch = ch.translate(_DIGITS)
                if chars and chars[-1] != " " and not is_cjk(ch) and not is_cjk(chars[-1]) and owner[-1] != i:
                    chars.append(" ")  # keep Latin words apart
                    owner.append(-1)
                chars.append(ch)
                owner.append(i)
        while chars and chars[-1] == " ":
            chars.pop()
            owner.pop()
        return cls("".join(chars), tuple(owner))

    @functools.cached_property
    def word_edges(self) -> frozenset[int]:
        """Offsets where a word starts or ends, by jieba's segmentation of the Chinese (Latin words are
        delimited by spaces already)."""
        edges, at = set(), 0
        for token in _jieba().cut(self.text, HMM=False):
            edges.update((at, at + len(token)))
            at += len(token)
        return frozenset(edges)

    def words_in(self, start: int, end: int) -> tuple[int, int]:
        """(first, last) word index covered by characters ``[start, end)``."""
        owners = [o for o in self.word_of[start:end] if o >= 0]
        return owners[0], owners[-1]


def _bounded(text: str, start: int, end: int, *, right: bool = True) -> bool:
    """A Latin match must not start or end inside a word ("sue" is not in "issue"); ``right=False`` checks
    the start only."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    left_ok = is_cjk(text[start]) or not before.isalnum() or is_cjk(before)
    right_ok = not right or is_cjk(text[end - 1]) or not after.isalnum() or is_cjk(after)
    return left_ok and right_ok


def find_normalised(index: IndexedText, phrase: str, *, inside_words: bool = False) -> list[tuple[int, int]]:
    """Character spans of ``phrase`` (normalised) in the indexed text, whole words only (see the module
    docstring; ``inside_words`` lifts the rule for short Chinese phrases). Parts joined by ``...`` match
    in order with a few words between them."""
    parts = [normalise(part) for part in phrase.split(_GAP)]
    if not all(parts):
        return []
    return _chain(index, [_spans_of(index, part, inside_words) for part in parts])


def _chain(index: IndexedText, parts: list[list[tuple[int, int]]]) -> list[tuple[int, int]]:
    """Spans where each part's match follows the previous one with a short gap (see :func:`_short_gap`)."""
    spans = parts[0]
    for following in parts[1:]:
        chained = []
        for start, end in spans:
            after = [(s, e) for s, e in following if s >= end and _short_gap(index.text[end:s])]
            if after:
                chained.append((start, after[0][1]))
        spans = chained
    return spans


def _whole_words(index: IndexedText, spans: list[tuple[int, int]], needle: str) -> list[tuple[int, int]]:
    """Drop matches of a short Chinese phrase that start or end inside a word (垃圾 in 垃圾桶)."""
    if len(needle) > _SHORT_CJK or not all(map(is_cjk, needle)):
        return spans
    return [(a, b) for a, b in spans if a in index.word_edges and b in index.word_edges]


def _short_gap(between: str) -> bool:
    """A gap holds a few words, and no negation ("you do not need to talk to a manager" is no order)."""
    cjk = sum(map(is_cjk, between))
    words = [w for w in between.split() if not CJK.search(w)]
    if cjk > _MAX_GAP_CJK or len(words) > _MAX_GAP_WORDS:
        return False
    padded = f" {' '.join(words)} "
    asking = _A_NOT_A.sub("", between)  # 是不是, 有没有: questions, not negations
    return not any(cue in asking if is_cjk(cue[0]) else f" {cue} " in padded for cue in _negations())


def _spans_of(index: IndexedText, needle: str, inside_words: bool) -> list[tuple[int, int]]:
    spans, start = [], index.text.find(needle)
    while start >= 0:
        end = start + len(needle)
        if _bounded(index.text, start, end):
            spans.append((start, end))
        start = index.text.find(needle, start + 1)
    return spans if inside_words else _whole_words(index, spans, needle)


@functools.lru_cache(maxsize=1)
def _negations() -> tuple[str, ...]:
    return tuple(dict.fromkeys(normalise(c) for c in NEGATION_CUES))


def negated(index: IndexedText, start: int, cues: Sequence[str]) -> bool:
    """Whether one of the negation ``cues`` stands just before ``start``, in the same clause: Chinese with
    at most one character between, English right before it (one word between for a cue of several words)."""
    before = index.text[:start].rstrip()
    if before and is_cjk(before[-1]):
        if start < len(index.text) and is_cjk(index.text[start]) and index.text[start - 1] == " ":
            return False  # the match opens a clause (punctuation before it): nothing in scope
        clause = before.rsplit(" ", 1)[-1]
        # at most one character between (您不必去找主管), so 别着急 does not reach past its own verb; an
        # A-not-A question (是不是, 要不要) asks, it does not negate
        for cue in (c for c in cues if is_cjk(c[0])):
            at = clause.find(cue, max(0, len(clause) - len(cue) - 1))
            if at >= 0 and not (at > 0 and len(cue) > 1 and clause[at - 1] == cue[1]):
                return True
        return False
    words = before.split()
    for cue in cues:
        needle = normalise(cue).split()
        if needle and not is_cjk(needle[0][0]):
            # a one-word cue must come right before the phrase ("not impossible"); a longer one may have
            # one word between ("you do not need to go and talk to …" has two: it does not count)
            reach = len(needle) + (len(needle) > 1)
            window = words[-reach:]
            if any(window[k:k + len(needle)] == needle for k in range(len(window) - len(needle) + 1)):
                return True
    return False


def find_fuzzy(index: IndexedText, phrase: str, *, max_edits: int | None = None) -> list[tuple[int, int]]:
    """Spans within ``max_edits`` edits of the phrase (default: 1 up to 6 characters, then 1 per 5)."""
    needle = normalise(phrase)
    n = len(needle)
    if n < 3:  # too short for edits to mean anything: exact only
        return find_normalised(index, phrase)
    limit = max_edits if max_edits is not None else max(1, n // 5)
    text = index.text
    # With at most `limit` edits, one of `limit + 1` pieces of the phrase occurs exactly (pigeonhole):
    # only starts near such an occurrence are worth an edit-distance computation.
    piece = n // (limit + 1)
    candidates = set()
    for k in range(limit + 1):
        part = needle[k * piece:(k + 1) * piece if k < limit else n]
        at = text.find(part)
        while at >= 0:
            candidates.update(range(max(0, at - k * piece - limit), at - k * piece + limit + 1))
            at = text.find(part, at + 1)
    spans, taken_until = [], 0
    for start in sorted(candidates):
        if start < taken_until or start >= len(text) or text[start] == " ":
            continue
        if not _bounded(text, start, start + 1, right=False):  # mid-word: cannot match (most candidates)
            continue
        best = None
        for length in (n, n - 1, n + 1):
            end = start + length
            if end > len(text) or length <= 0:
                continue
            d = Levenshtein.distance(needle, text[start:end], score_cutoff=limit)  # > limit: limit + 1
            if d <= limit and _bounded(text, start, end) and (best is None or d < best[0]):
                best = (d, end)
        if best:
            spans.append((start, best[1]))
            taken_until = best[1]
    return spans


def _tokens(index: IndexedText) -> list[tuple[str, int, int]]:
    """Pinyin tokens: (syllable or Latin/digit run, start char, end char)."""
    out, i, text = [], 0, index.text
    while i < len(text):
        ch = text[i]
        if ch == " ":
            i += 1
        elif is_cjk(ch):
            out.append((_pinyin(ch), i, i + 1))
            i += 1
        else:
            j = i
            while j < len(text) and text[j] != " " and not is_cjk(text[j]):
                j += 1
            out.append((text[i:j], i, j))
            i = j
    return out


def find_pinyin(index: IndexedText, phrase: str, *, inside_words: bool = False) -> list[tuple[int, int]]:
    """Spans whose toneless pinyin equals the phrase's (homophones match: 小鞋 finds 消协); whole words
    and ``...`` gaps as in :func:`find_normalised`. Index the text without digit conversion (Chinese
    numerals keep their syllables)."""
    hay = _tokens(index)
    parts = []
    for part in phrase.split(_GAP):
        raw = IndexedText.from_words([Word(part, 0, 0, 1.0)], digits=False)
        needle = [t for t, _, _ in _tokens(raw)]
        if not needle:
            return []
        spans = [(hay[i][1], hay[i + len(needle) - 1][2]) for i in range(len(hay) - len(needle) + 1)
                 if all(hay[i + k][0] == needle[k] for k in range(len(needle)))]
        parts.append(spans if inside_words else _whole_words(index, spans, raw.text))
    return _chain(index, parts)
