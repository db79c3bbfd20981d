"""Text normalisation and phrase matching over recognised words, for rules and redaction.

A turn's words are indexed once (:class:`IndexedText`): a normalised string, its pinyin tokens, and
for every character the word it came from, so that a match anywhere can be turned back into times.

Normalisation: Unicode NFKC (full width → half width), lower case, traditional → simplified Chinese,
apostrophes dropped (don't = dont), other punctuation and spaces dropped (one space kept between Latin words), Chinese digit characters → digits.
Pinyin matching compares toneless syllables, so ASR homophone slips (招拼 for 招聘, 小鞋 for 消协) still
match while unrelated text does not.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from .records import Word

_CJK_RANGE = "\u3400-\u9fff\uf900-\ufaff"  # CJK unified ideographs (extension A and compatibility included)
CJK = re.compile(f"[{_CJK_RANGE}]")  # one Chinese character
_TOKEN = re.compile(f"[{_CJK_RANGE}]|[^\\s{_CJK_RANGE}]+")
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


def _clean(text: str) -> str:
    """NFKC, lower case, simplified Chinese; punctuation becomes a space."""
    text = to_simplified(unicodedata.normalize("NFKC", text).lower())
    text = text.replace("'", "").replace("\u2019", "")  # don't = dont, as recognisers often write it
    return "".join(ch if ch.isalnum() else " " for ch in text)


def normalise(text: str, *, digits: bool = True) -> str:
    """The normalised form of a phrase (see the module docstring)."""
    return IndexedText.from_words([Word(text, 0, 0, 1.0)], digits=digits).text


def compact(text: str) -> str:
    """The normalised form with no spaces at all (for counting cues and repeated n-grams)."""
    return normalise(text).replace(" ", "")


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


def find_normalised(index: IndexedText, phrase: str) -> list[tuple[int, int]]:
    """Character spans of ``phrase`` (normalised) in the indexed text."""
    needle = normalise(phrase)
    if not needle:
        return []
    spans, start = [], index.text.find(needle)
    while start >= 0:
        end = start + len(needle)
        if _bounded(index.text, start, end):
            spans.append((start, end))
        start = index.text.find(needle, start + 1)
    return spans


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


def find_pinyin(index: IndexedText, phrase: str, *, raw: IndexedText | None = None) -> list[tuple[int, int]]:
    """Spans whose toneless pinyin equals the phrase's (homophones match: 小鞋 finds 消协).

    ``raw`` is the same text indexed without digit conversion (Chinese numerals keep their syllables).
    """
    source = raw or index
    needle = [t for t, _, _ in _tokens(IndexedText.from_words([Word(phrase, 0, 0, 1.0)], digits=False))]
    hay = _tokens(source)
    if not needle:
        return []
    spans = []
    for i in range(len(hay) - len(needle) + 1):
        if all(hay[i + k][0] == needle[k] for k in range(len(needle))):
            spans.append((hay[i][1], hay[i + len(needle) - 1][2]))
    return spans
