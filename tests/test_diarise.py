"""Diarisation of one-channel calls: accuracy on the sample calls, and the speed-ups giving the same answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate

from audioqa import load_config
from audioqa.audio import decode_audio
from audioqa.diarization import borrow_embeddings, diarise
from audioqa.evaluation.accuracy import read_rttm
from audioqa.models import load_diarization

from .conftest import SAMPLES, sample_path


def der(pipeline, call_id: str, options) -> float:
    samples = decode_audio(sample_path(call_id)).samples.mean(axis=0)
    hypothesis = Annotation()
    for s in diarise(pipeline, samples, options)[1]:
        hypothesis[Segment(s.begin_ms / 1000, s.end_ms / 1000)] = s.speaker
    return DiarizationErrorRate(collar=0.25)(read_rttm(SAMPLES / f"{call_id}.rttm"), hypothesis)


@pytest.mark.parametrize("call_id", ["zh_complaint_mono", "en_complaint_mono"])
def test_mono_sample_calls_are_diarised_close_to_their_script(models, config, call_id):
    # measured 13.3 % (zh: short overlapping back-channels) and 3.0 % (en) at collar 0.25 s
    assert der(models.diarization, call_id, config.diarization) < {"zh_complaint_mono": 0.18,
                                                                   "en_complaint_mono": 0.08}[call_id]


def test_onnx_runtime_gives_the_same_networks_as_pytorch(models):
    config = load_config(overrides={"models": {"onnx_cpu": False}})
    reference, _ = load_diarization(config.models, config.diarization)
    fast = models.diarization
    assert config.models.device == "cpu"

    waveform = torch.from_numpy(decode_audio(sample_path("en_complaint_mono")).samples[:1, :160_000].copy())
    with torch.inference_mode():
        segmentation = (fast._segmentation.model(waveform[None]), reference._segmentation.model(waveform[None]))
        feats = torch.randn(1, 300, 80)
        embedding = (fast.embedding.network(feats), reference.embedding.network(feats))
    assert fast._segmentation.model.forward != reference._segmentation.model.forward  # really two runtimes
    for ours, theirs in (segmentation, embedding):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-3)


def activity(*spans: tuple[int, int], frames: int = 40) -> np.ndarray:
    out = np.zeros(frames)
    for begin, end in spans:
        out[begin:end] = 1
    return out


def test_a_skipped_window_borrows_each_voice_from_its_overlapping_neighbour():
    # three 40-frame windows, 10 frames apart; voices A and B; the middle window's local speakers are swapped
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    masks = np.stack([
        np.stack([activity((0, 25)), activity((25, 40))], axis=1),   # window 0: A then B
        np.stack([activity((15, 40)), activity((0, 15))], axis=1),   # window 1 (starts 10 later): B, A
        np.stack([activity((5, 30)), activity((0, 5))], axis=1),    # window 2: B, A
    ])
    embeddings = np.full((3, 2, 2), np.nan)
    embeddings[0] = [a, b]
    embeddings[2] = [b, a]
    unmatched = borrow_embeddings(masks, embeddings, np.array([True, False, True]), shift_frames=10)
    assert unmatched == []
    np.testing.assert_array_equal(embeddings[1], [b, a])


def test_a_voice_no_embedded_neighbour_hears_is_left_to_embed():
    masks = np.zeros((2, 40, 3))
    masks[0, :, 0] = activity((0, 40))
    masks[1, :, 0] = activity((0, 20))
    masks[1, :, 2] = activity((35, 40))  # only in the last 10 frames, which window 0 does not cover
    embeddings = np.full((2, 3, 2), np.nan)
    embeddings[0, 0] = [1.0, 0.0]
    assert borrow_embeddings(masks, embeddings, np.array([True, False]), shift_frames=10) == [(1, 2)]
    np.testing.assert_array_equal(embeddings[1, 0], [1.0, 0.0])
    assert np.isnan(embeddings[1, 1]).all()  # inactive: stays without an embedding, as in pyannote


def test_embedding_every_other_window_halves_the_embeddings_and_keeps_the_speakers(config):
    class Counting:
        def __init__(self, embedding):
            self.embedding, self.pairs = embedding, 0

        def __getattr__(self, name):
            return getattr(self.embedding, name)

        def __call__(self, waveforms, masks=None):
            self.pairs += int((masks.sum(dim=1) > 0).sum())
            return self.embedding(waveforms, masks=masks)

    samples = decode_audio(sample_path("en_complaint_mono")).samples.mean(axis=0)
    answers, pairs = {}, {}
    for stride in (1, 2):
        options = load_config(overrides={"diarization": {"embedding_stride": stride}})
        pipeline, _ = load_diarization(options.models, options.diarization)
        pipeline._embedding = counting = Counting(pipeline._embedding)
        answers[stride] = Annotation()
        for s in diarise(pipeline, samples, options.diarization)[1]:
            answers[stride][Segment(s.begin_ms / 1000, s.end_ms / 1000)] = s.speaker
        pairs[stride] = counting.pairs
    assert 0 < pairs[2] <= 0.6 * pairs[1], pairs
    assert DiarizationErrorRate(collar=0.25)(answers[1], answers[2]) < 0.02


def test_a_voice_only_a_skipped_window_hears_gets_its_own_embedding(models):
    # windows at 0, 2.5 and 5 s, the middle one not embedded: a second voice active only in its last second,
    # where neither embedded neighbour hears it, cannot borrow and is embedded on its own
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    pipeline = models.diarization
    assert pipeline.embedding_stride == 2
    samples = decode_audio(sample_path("en_complaint_mono")).samples.mean(axis=0)[:16000 * 15]
    file = {"waveform": torch.from_numpy(samples[None].copy()), "sample_rate": 16000}
    frames = 589
    masks = np.zeros((3, frames, 3), np.float32)
    masks[:, :300, 0] = 1                  # one voice everywhere, heard by every window
    masks[1, frames - 100:, 1] = 1         # a second voice, in the middle window's last second only
    segmentation = SlidingWindowFeature(masks, SlidingWindow(start=0.0, duration=10.0, step=2.5))
    embeddings = pipeline.get_embeddings(file, segmentation)
    assert embeddings.shape == (3, 3, 192)
    np.testing.assert_array_equal(embeddings[1, 0], embeddings[0, 0])  # borrowed
    assert not np.isnan(embeddings[1, 1]).any()                         # embedded on its own
    assert not np.allclose(embeddings[1, 1], embeddings[0, 0])


def test_segmenting_windows_together_and_one_fbank_per_window_change_nothing(models):
    pipeline = models.diarization
    samples = decode_audio(sample_path("en_complaint_mono")).samples.mean(axis=0)[:16000 * 20]
    file = {"waveform": torch.from_numpy(samples[None].copy()), "sample_rate": 16000}
    assert pipeline._segmentation.batch_size == 8
    together = pipeline.get_segmentations(file)
    pipeline._segmentation.batch_size = 1
    try:
        one_by_one = pipeline.get_segmentations(file)
    finally:
        pipeline._segmentation.batch_size = 8
    np.testing.assert_allclose(together.data, one_by_one.data, atol=1e-5)

    # one window, three masks: embedded in one call (fbank shared) and one mask per call (fbank each time)
    waveform = file["waveform"][:, :160_000]
    masks = torch.zeros(3, 589)
    masks[0, :200], masks[1, 250:450], masks[2, 100:589] = 1, 1, 1
    embedding = pipeline.embedding  # the CAM++ model
    with torch.inference_mode():
        shared = embedding(waveform[None].repeat(3, 1, 1), weights=masks)
        alone = torch.cat([embedding(waveform[None], weights=masks[i:i + 1]) for i in range(3)])
    np.testing.assert_allclose(shared.numpy(), alone.numpy(), atol=1e-5)
    assert not np.allclose(shared[0].numpy(), shared[1].numpy())
