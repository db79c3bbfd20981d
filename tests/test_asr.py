"""How audioqa drives faster-whisper (the recognition itself is exercised on the sample calls)."""

from __future__ import annotations

from types import SimpleNamespace

import faster_whisper
import numpy as np

from audioqa import load_config
from audioqa import asr
from audioqa.asr import _keep_segment, transcribe, windows
from audioqa.audio import decode_audio

from .conftest import sample_path, truth


class Recorder:
    """Stands in for a Whisper model or pipeline; remembers how it was asked to transcribe."""

    def __init__(self, model=None, device: str = "cpu"):
        self.model = model or SimpleNamespace(device=device)
        self.kwargs: dict = {}

    def transcribe(self, samples, **kwargs):
        self.kwargs = kwargs
        return iter(()), SimpleNamespace(language="en")


def test_on_a_gpu_vad_chunks_are_decoded_in_batches(monkeypatch):
    made: list[Recorder] = []
    monkeypatch.setattr(faster_whisper, "BatchedInferencePipeline", lambda model: made.append(Recorder(model)) or made[-1])
    options = load_config().asr
    transcribe(Recorder(device="cuda"), np.zeros(16_000, np.float32), language="en", options=options)
    assert len(made) == 1
    assert made[0].kwargs["batch_size"] == options.gpu_batch_size
    assert made[0].kwargs["vad_filter"] and made[0].kwargs["word_timestamps"]


def test_on_cpu_windows_are_decoded_one_after_another(monkeypatch):
    monkeypatch.setattr(faster_whisper, "BatchedInferencePipeline", lambda model: 1 / 0)
    model = Recorder(device="cpu")
    transcribe(model, np.zeros(16_000, np.float32), language="en", options=load_config().asr)
    assert "batch_size" not in model.kwargs and model.kwargs["condition_on_previous_text"] is False


def _segment(text: str, *, window_ratio: float, word_probability: float, seconds_per_word: float = 0.3) -> SimpleNamespace:
    words = [SimpleNamespace(word=w, probability=word_probability, start=i * seconds_per_word,
                             end=(i + 1) * seconds_per_word) for i, w in enumerate(text.split())]
    return SimpleNamespace(text=text, compression_ratio=window_ratio, no_speech_prob=0.1, avg_logprob=-0.2, words=words)


def test_a_loop_crammed_into_a_short_stretch_is_dropped_as_a_hallucination():
    options = load_config().asr
    assert not _keep_segment(_segment("thank you " * 20, window_ratio=6.0, word_probability=0.99,
                                      seconds_per_word=0.05), options)


def test_one_segment_holding_a_sentence_said_over_and_over_is_kept_when_spoken_at_a_human_pace():
    options = load_config().asr
    text = "dogs are sitting by the door " * 12  # what Whisper makes of a mono call that repeats itself
    assert _keep_segment(_segment(text, window_ratio=16.0, word_probability=0.98, seconds_per_word=0.5), options)
    assert not _keep_segment(_segment(text, window_ratio=16.0, word_probability=0.4, seconds_per_word=0.5), options)


def test_a_sentence_said_again_is_kept_when_it_is_heard_clearly_and_dropped_when_not():
    options = load_config().asr
    sentence = "I want my money back before the end of the week"
    assert _keep_segment(_segment(sentence, window_ratio=5.0, word_probability=0.9), options)
    assert not _keep_segment(_segment(sentence, window_ratio=5.0, word_probability=0.3), options)
    assert _keep_segment(_segment(sentence, window_ratio=1.5, word_probability=0.3), options)


def test_a_customer_who_repeats_a_sentence_keeps_every_copy_of_its_words(models, config):
    """Eight copies of one real 4.5 s sentence from a sample call: Whisper's window-level repetition gate
    used to drop seven of them."""
    turn = truth("en_complaint_mono")["turns"][1]
    samples = decode_audio(sample_path("en_complaint_mono"), silent_peak_dbfs=config.audio.silent_peak_dbfs).samples[0]
    sentence = samples[turn["begin_ms"] * 16:turn["end_ms"] * 16]
    pause = np.zeros(9_600, np.float32)  # 0.6 s
    words, _ = transcribe(models.whisper, np.concatenate([sentence, pause] * 8), language="en", options=config.asr)
    text = " ".join(w.text for w in words).lower()
    assert text.count("harbor road") == 8, text


def test_long_signals_are_cut_into_windows_at_their_quietest_moments():
    rng = np.random.default_rng(0)
    samples = rng.normal(0, 0.3, 16_000 * 50).astype(np.float32)
    samples[16_000 * 17:16_000 * 17 + 4_000] = 0  # a quarter-second pause 17 s in
    cuts = windows(samples, sr=16_000, window_s=20, search_s=5)
    assert cuts[0][0] == 0 and cuts[-1][1] == len(samples)
    assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:]))  # contiguous, nothing lost or doubled
    assert all(end - begin <= 16_000 * 20 for begin, end in cuts)
    assert 16_000 * 17 <= cuts[0][1] <= 16_000 * 17 + 4_000
    assert windows(samples[:16_000 * 19], sr=16_000, window_s=20, search_s=5) == [(0, 16_000 * 19)]


def test_a_call_recognised_in_windows_keeps_every_word_at_its_time_in_the_call(models, config, monkeypatch):
    turn = truth("en_complaint_mono")["turns"][1]
    samples = decode_audio(sample_path("en_complaint_mono"), silent_peak_dbfs=config.audio.silent_peak_dbfs).samples[0]
    sentence = samples[turn["begin_ms"] * 16:turn["end_ms"] * 16]
    pause = np.zeros(9_600, np.float32)
    call = np.concatenate([sentence, pause] * 6)
    monkeypatch.setattr(asr, "_WINDOW_S", 12)
    monkeypatch.setattr(asr, "_CUT_SEARCH_S", 4)
    assert len(windows(call, sr=16_000, window_s=12, search_s=4)) >= 3
    words, _ = transcribe(models.whisper, call, language="en", options=config.asr)
    text = " ".join(w.text for w in words).lower()
    assert text.count("harbor road") == 6, text
    starts = [w.begin_ms for w in words]
    assert starts == sorted(starts) and starts[-1] > len(call) // 16 - 1000 - len(sentence) // 16


def _spoken(text: str) -> np.ndarray:
    """``text`` spoken by espeak-ng (a Debian package that `make test` installs), 16 kHz, with short silences."""
    import io
    import subprocess

    import librosa
    import soundfile as sf

    wav = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "--stdout", text], capture_output=True,
                         check=True).stdout
    samples, rate = sf.read(io.BytesIO(wav), dtype="float32")
    pause = np.zeros(8_000, np.float32)
    return np.concatenate([pause, librosa.resample(samples, orig_sr=rate, target_sr=16_000), pause])


def test_the_sites_vocabulary_makes_the_recogniser_spell_its_names(models, config):
    names = ("Zentrixa", "Quorvia", "Telmaro")
    calls = [_spoken(f"Hello, I am calling about my {names[0]} router, it keeps dropping the line."),
             _spoken(f"My {names[1]} card was charged twice this month."),
             _spoken(f"The {names[2]} app will not let me log in.")]

    def names_heard(vocabulary: tuple[str, ...]) -> int:
        options = config.asr.model_copy(update={"vocabulary": vocabulary})
        texts = [" ".join(w.text for w in transcribe(models.whisper, call, language="en", options=options)[0])
                 for call in calls]
        return sum(name in text.split() or f"{name}," in text.split() for name, text in zip(names, texts))

    assert names_heard(names) >= 2 > names_heard(())


def test_a_vocabulary_file_is_read_when_the_configuration_loads(tmp_path):
    words = tmp_path / "site-words.txt"
    words.write_text("# our products\nZentrixa\n\nKovalent Bank\n", encoding="utf-8")
    assert load_config(None, {"asr": {"vocabulary": str(words)}}).asr.vocabulary == ("Zentrixa", "Kovalent Bank")
