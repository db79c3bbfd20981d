"""Diarisation error rate of audioqa's mono path against reference RTTM files.

    .venv/bin/python tools/der.py AUDIO REF.rttm [AUDIO REF.rttm ...]

Audio is decoded as audioqa does (stereo files are mixed down), diarised with the default
configuration (two speakers), and scored with pyannote.metrics at collars 0 and 0.25 s.
"""

import sys
import time
import warnings

warnings.filterwarnings("ignore")

from pyannote.core import Annotation, Segment  # noqa: E402
from pyannote.metrics.diarization import DiarizationErrorRate  # noqa: E402

from audioqa import load_config  # noqa: E402
from audioqa.audio import decode_audio  # noqa: E402
from audioqa.diarization import diarise  # noqa: E402
from audioqa.evaluation.accuracy import read_rttm  # noqa: E402
from audioqa.models import load_diarization  # noqa: E402


def main(args: list[str]) -> None:
    config = load_config()
    pipeline, _ = load_diarization(config.models, config.diarization)
    print("| file | duration s | DER collar 0 | DER collar 0.25 s | RTF |")
    print("|---|---|---|---|---|")
    for audio_path, rttm_path in zip(args[::2], args[1::2]):
        audio = decode_audio(audio_path)
        start = time.perf_counter()
        segments = diarise(pipeline, audio.samples.mean(axis=0), config.diarization)[1]
        elapsed = time.perf_counter() - start
        hypothesis = Annotation()
        for s in segments:
            hypothesis[Segment(s.begin_ms / 1000, s.end_ms / 1000)] = s.speaker
        reference = read_rttm(rttm_path)
        der0 = DiarizationErrorRate(collar=0.0)(reference, hypothesis)
        der25 = DiarizationErrorRate(collar=0.25)(reference, hypothesis)
        seconds = audio.duration_ms / 1000
        print(f"| {audio_path} | {seconds:.1f} | {der0:.1%} | {der25:.1%} | {elapsed / seconds:.3f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
