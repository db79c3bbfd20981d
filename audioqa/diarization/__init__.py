"""Speaker diarisation of one-channel calls with pyannote.audio, kept apart as pyannote keeps its layers:

- models: :mod:`.campplus` (the CAM++ speaker embedding as a pyannote ``Model``) and :mod:`.onnx_cpu`
  (the same networks run by ONNX Runtime on CPU);
- pipeline: :mod:`.strided` (pyannote's ``SpeakerDiarization`` embedding every n-th window) built from
  local weights by :mod:`.build`;
- inference: :func:`diarise` (who spoke when, in ms) and :func:`embed_voice` in :mod:`.diarise`;
- after recognition: :func:`follow_voices` (each phrase to the speaker whose voice it is) in :mod:`.voices`.

Nothing here imports torch or pyannote until a pipeline is built or run.
"""

from .build import build_pipeline, load_networks
from .diarise import borrow_embeddings, diarise, embed_voice
from .voices import follow_voices, overlaps

__all__ = ["borrow_embeddings", "build_pipeline", "diarise", "embed_voice", "follow_voices", "load_networks", "overlaps"]
