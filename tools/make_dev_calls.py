"""Make call-shaped recordings from labelled emotion corpora, for ``audioqa eval calls``.

Each call alternates a calm agent (one speaker's neutral clips) and a customer (another speaker of the
same corpus) for 12 turns, the agent first. The customer's scenario decides their clips:

- ``calm``: neutral throughout;
- ``angry_half``: neutral, then angry from the fourth customer turn;
- ``happy_half``: neutral, then happy (must not be flagged);
- ``angry_start``: angry from the first word (no calm baseline to compare with).

Each call is written twice, as a telephone recording (300-3400 Hz, 8 kHz, μ-law): stereo (agent on
channel 0, customer on channel 1, as audioqa's default channel map) and the mono mix. Levels vary by
party and call. ``MANIFEST.tsv`` names each file with its customer's agitated spans (ms) and its
who-spoke-when reference (``<call>.rttm``, speakers ``agent`` and ``customer``), so the same folder serves
``audioqa eval calls`` and ``audioqa eval diarization``. With ``--same-sex`` both parties of a call have
the same ``sex`` in the corpus manifest: the hard case for diarising a one-channel call (the corpus
label is used only to build this evaluation set, never by audioqa).

Usage: python tools/make_dev_calls.py OUT_DIR MANIFEST.tsv [MANIFEST.tsv ...] [--per-scenario N] [--seed S]
       [--same-sex]

The audio comes from the corpora's licences (see each corpus's NOTICE.txt); keep OUT_DIR outside the
repository, and never use these calls to choose anything you then report on them alone.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
from scipy.signal import butter, sosfilt

SR_HZ = 8000
SCENARIOS = {
    "calm": ["neutral"] * 6,
    "angry_half": ["neutral"] * 3 + ["angry"] * 3,
    "happy_half": ["neutral"] * 3 + ["happy"] * 3,
    "angry_start": ["angry"] * 6,
}


def load_clip(path: Path) -> np.ndarray:
    """A clip at 8 kHz in the telephone band, its leading and trailing silence cut (so a turn's span in
    the reference is speech), scaled to a -26 dBFS speech level."""
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    y = librosa.effects.trim(y.mean(axis=1), top_db=40, frame_length=512, hop_length=128)[0]
    y = librosa.resample(y, orig_sr=sr, target_sr=SR_HZ)
    y = sosfilt(butter(4, [300, 3400], btype="band", fs=SR_HZ, output="sos"), y).astype(np.float32)
    frames = librosa.feature.rms(y=y, frame_length=256, hop_length=80)[0]
    level_db = 20 * np.log10(np.median(frames[frames > frames.max() * 0.1]) + 1e-9)
    return y * 10 ** ((-26 - level_db) / 20)


def read_corpus(manifest: Path) -> tuple[dict[str, dict[str, list[Path]]], dict[str, str]]:
    """speaker → emotion → clip paths, and speaker → the corpus's ``sex`` label ("" when it has none)."""
    clips: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    sex: dict[str, str] = {}
    with open(manifest, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            speaker = row.get("actor") or row.get("speaker", "")
            clips[speaker][row["emotion"].strip().lower()].append(manifest.parent / row["path"])
            sex[speaker] = (row.get("sex") or row.get("gender") or "").strip().upper()[:1]
    return clips, sex


def make_call(agent: list[Path], customer: list[Path],
              rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]], list[tuple[int, int]]]:
    """Stereo samples (2, n) at 8 kHz, and the agent's and the customer's turns (begin_ms, end_ms), in call order."""
    gains = 10 ** (rng.uniform([-6, -12], [0, 0]) / 20)  # agent, customer
    parts: list[np.ndarray] = []
    spans: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
    t = int(0.3 * SR_HZ)
    parts.append(np.zeros((2, t), np.float32))
    for a, c in zip(agent, customer):
        for channel, path in ((0, a), (1, c)):
            y = load_clip(path) * gains[channel]
            block = np.zeros((2, len(y)), np.float32)
            block[channel] = y
            spans[channel].append((t * 1000 // SR_HZ, (t + len(y)) * 1000 // SR_HZ))
            gap = np.zeros((2, int(rng.uniform(0.4, 0.9) * SR_HZ)), np.float32)
            parts += [block, gap]
            t += len(y) + gap.shape[1]
    return np.concatenate(parts, axis=1), *spans


def rttm(name: str, agent: list[tuple[int, int]], customer: list[tuple[int, int]]) -> str:
    """Who spoke when, one SPEAKER line per turn, in seconds."""
    turns = sorted([(b, e, "agent") for b, e in agent] + [(b, e, "customer") for b, e in customer])
    return "".join(f"SPEAKER {name} 1 {b / 1000:.3f} {(e - b) / 1000:.3f} <NA> <NA> {who} <NA> <NA>\n"
                   for b, e, who in turns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("manifests", type=Path, nargs="+")
    parser.add_argument("--per-scenario", type=int, default=1, help="calls per scenario and corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--same-sex", action="store_true", help="both parties of a call of the same sex")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = ["path\tlayout\tcorpus\tscenario\tfrom_start\tagitated_ms\treference\tn_speakers"]
    for manifest in args.manifests:
        corpus = manifest.resolve().parent.name
        clips, sex = read_corpus(manifest)
        speakers = sorted(s for s in clips if clips[s]["neutral"] and clips[s]["angry"] and clips[s]["happy"])
        for scenario, emotions in SCENARIOS.items():
            for k in range(args.per_scenario):
                agent_speaker = rng.choice(speakers)
                others = [s for s in speakers if s != agent_speaker and (not args.same_sex or sex[s] == sex[agent_speaker])]
                customer_speaker = rng.choice(others)
                agent = [clips[agent_speaker]["neutral"][i % len(clips[agent_speaker]["neutral"])]
                         for i in rng.permutation(6)]
                order = {e: list(rng.permutation(len(clips[customer_speaker][e]))) for e in set(emotions)}
                customer = [clips[customer_speaker][e][order[e][i % len(order[e])]] for i, e in enumerate(emotions)]
                stereo, agent_spans, spans = make_call(agent, customer, rng)
                agitated = [f"{b}-{e}" for (b, e), emotion in zip(spans, emotions) if emotion == "angry"]
                name = f"{corpus}_{scenario}_{k}"
                peak = max(1.0, float(np.abs(stereo).max()), float(np.abs(stereo.sum(axis=0)).max()))
                sf.write(args.out / f"{name}_stereo.wav", (stereo / peak).T, SR_HZ, subtype="ULAW")
                sf.write(args.out / f"{name}_mono.wav", stereo.sum(axis=0) / peak, SR_HZ, subtype="ULAW")
                (args.out / f"{name}.rttm").write_text(rttm(name, agent_spans, spans), encoding="utf-8")
                for layout in ("stereo", "mono"):
                    rows.append(f"{name}_{layout}.wav\t{layout}\t{corpus}\t{scenario}\t"
                                f"{int(scenario == 'angry_start')}\t{';'.join(agitated)}\t{name}.rttm\t2")
    (args.out / "MANIFEST.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(f"{len(rows) - 1} recordings in {args.out}")


if __name__ == "__main__":
    main()
