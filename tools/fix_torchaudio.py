"""Make ``import torchaudio`` work beside the CPU build of torch.

pyannote.audio 4 pulls torchaudio from PyPI, a CUDA build whose compiled libraries cannot load next to
CPU torch (``OSError: ... _torchaudio.abi3.so``). Without those libraries torchaudio imports its
pure-Python parts, which is all pyannote uses (Kaldi fbank, resampling). This script removes the
compiled libraries only when the import fails that way, so a working torchaudio is left alone.
"""

import subprocess
import sys
from pathlib import Path


def imports_cleanly() -> tuple[bool, str]:
    result = subprocess.run([sys.executable, "-c", "import torchaudio"], capture_output=True, text=True)
    return result.returncode == 0, result.stderr


def main() -> int:
    ok, error = imports_cleanly()
    if ok:
        return 0
    if "OSError" not in error or "torchaudio" not in error:
        print(error, file=sys.stderr)
        return 1
    import importlib.util

    lib = Path(importlib.util.find_spec("torchaudio").origin).parent / "lib"
    for so in lib.glob("*.so"):
        so.unlink()
        print(f"removed {so} (CUDA build; pure-Python torchaudio is enough)")
    ok, error = imports_cleanly()
    if not ok:
        print(error, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
