"""pyannote's ``SpeakerDiarization`` with speaker embeddings on every n-th window only.

Embedding each (window, local speaker) pair is about three quarters of diarisation time on CPU. With a
10 s window every 2.5 s, neighbouring windows hear the same voices over 7.5 s: windows left out take
their embeddings from the same voice in the nearest embedded window
(:func:`audioqa.diarise.borrow_embeddings`); a voice that no embedded neighbour hears is embedded alone.
Segmentation, clustering and reconstruction are pyannote's, unchanged.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from pyannote.audio.pipelines import SpeakerDiarization
from pyannote.core import SlidingWindow, SlidingWindowFeature

from .diarise import borrow_embeddings


class StridedDiarization(SpeakerDiarization):
    """``SpeakerDiarization`` that embeds chunks 0, n, 2n, … (``embedding_stride`` n; 1 embeds them all)."""

    def __init__(self, *args, embedding_stride: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.embedding_stride = embedding_stride

    def get_embeddings(self, file, binary_segmentations: SlidingWindowFeature, exclude_overlap: bool = False,
                       hook: Callable | None = None) -> np.ndarray:
        """(chunks, speakers, dimension) embeddings, as pyannote's, computed on every n-th chunk only."""
        stride = self.embedding_stride
        masks, window = binary_segmentations.data, binary_segmentations.sliding_window
        if stride == 1 or len(masks) <= stride:
            return super().get_embeddings(file, binary_segmentations, exclude_overlap, hook)
        embedded = np.zeros(len(masks), bool)
        embedded[::stride] = True
        every_nth = SlidingWindowFeature(masks[embedded], SlidingWindow(start=window.start, duration=window.duration,
                                                                        step=window.step * stride))
        first = super().get_embeddings(file, every_nth, exclude_overlap, hook)
        embeddings = np.full((len(masks),) + first.shape[1:], np.nan, dtype=first.dtype)
        embeddings[embedded] = first
        shift_frames = window.step / window.duration * masks.shape[1]
        for chunk, speaker in borrow_embeddings(np.nan_to_num(masks), embeddings, embedded, shift_frames):
            only = np.zeros_like(masks[chunk:chunk + 1])
            only[0, :, speaker] = masks[chunk, :, speaker]
            one = SlidingWindowFeature(only, SlidingWindow(start=window[chunk].start, duration=window.duration,
                                                           step=window.step))
            embeddings[chunk, speaker] = super().get_embeddings(file, one, exclude_overlap)[0, speaker]
        return embeddings
