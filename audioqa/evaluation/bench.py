"""``audioqa bench``: speed per stage, side by side with the naive baseline a user would otherwise script.

For each call (the sample calls, and the AWS contact-centre calls from ``../shared/data`` when present):
audioqa's wall time, real-time factor and the process's peak memory after each stage; then, on the same
file and with the same weights, the naive baseline: stock faster-whisper ``transcribe`` on the mono mix
followed by pyannote's stock ``SpeakerDiarization`` (its default 0.1 step, embeddings one at a time, PyTorch).
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE_HZ, decode_audio
from ..config import Config
from ..models import Models, diarization_weights
from ..output import write_atomic
from ..pipeline import STAGES, decode_and_analyze

AWS_CALLS = ("call40_stereo_L-caller_R-agent.wav", "call49_stereo_L-caller_R-agent.wav", "call40_mono_mix.wav",
             "call49_mono_mix.wav")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_files(sample_dir: Path, shared_data: Path | None) -> list[tuple[Path, dict[str, str]]]:
    files = [(p, {}) for p in sorted(sample_dir.glob("*")) if p.suffix in (".wav", ".flac")]
    aws = shared_data / "calls_en_aws_contact_center" / "audio" if shared_data else None
    if aws and aws.is_dir():  # L = caller, R = agent on these recordings
        files += [(aws / name, {"agent": 1, "customer": 0}) for name in AWS_CALLS if (aws / name).is_file()]
    return files


def naive_baseline(path: Path, models: Models, stock_pipeline: Any) -> dict[str, float]:
    """Seconds for stock faster-whisper then stock pyannote on the mono mix of a file."""
    import torch

    audio = decode_audio(path)
    mono = audio.samples.mean(axis=0).astype(np.float32)
    start = time.perf_counter()
    segments, _ = models.whisper.transcribe(mono, word_timestamps=True, vad_filter=True)
    for _ in segments:
        pass
    asr_s = time.perf_counter() - start
    start = time.perf_counter()
    stock_pipeline({"waveform": torch.from_numpy(mono[None, :].copy()), "sample_rate": SAMPLE_RATE_HZ})
    return {"asr_s": asr_s, "diarization_s": time.perf_counter() - start}


def stock_pipeline(config: Config) -> Any:
    """pyannote's stock ``SpeakerDiarization`` (default step 0.1, every window embedded, PyTorch) with the
    same weights and clustering parameters as audioqa's."""
    from pyannote.audio.core.plda import PLDA
    from pyannote.audio.pipelines import SpeakerDiarization

    from ..diarization import load_networks

    segmentation, embedding = load_networks(*diarization_weights(config.models))
    stock = SpeakerDiarization(segmentation=segmentation, embedding=embedding, plda=PLDA.__new__(PLDA),
                               clustering="AgglomerativeClustering")
    stock.instantiate({"segmentation": {"min_duration_off": 0.0},
                       "clustering": {"method": "centroid", "threshold": config.diarization.clustering_threshold,
                                      "min_cluster_size": config.diarization.min_cluster_size}})
    return stock


def run_bench(models: Models, config: Config, sample_dir: Path, shared_data: Path | None) -> dict[str, Any]:
    stock = stock_pipeline(config)
    rows = []
    for path, channels in bench_files(sample_dir, shared_data):
        cfg = config.model_copy(update={"channels": config.channels.model_copy(update=channels)}) if channels else config
        memory: dict[str, float] = {}
        _, report = decode_and_analyze(path, models, cfg, hook=lambda stage, _: memory.__setitem__(stage, _peak_rss_mb()))
        memory = {"decode": memory["decode"], "analysis": memory["rules"]}
        seconds = report.source.duration_ms / 1000
        layout = report.options.layout
        baseline = naive_baseline(path, models, stock)
        timings_ms = report.timings_ms
        ours_s = sum(timings_ms.values()) / 1000
        rows.append({
            "file": path.name, "layout": layout, "duration_s": round(seconds, 1),
            "stages_s": {k: round(v / 1000, 3) for k, v in timings_ms.items()},
            "rtf": {k: round(v / 1000 / seconds, 4) for k, v in timings_ms.items()},
            "audioqa_s": round(ours_s, 2), "audioqa_rtf": round(ours_s / seconds, 4),
            "baseline_s": round(sum(baseline.values()), 2), "baseline": {k: round(v, 2) for k, v in baseline.items()},
            "peak_rss_mb": {k: round(v) for k, v in memory.items()},
            "turns": len(report.turns),
        })
    summary: dict[str, Any] = {"ratio_vs_baseline": {}, "non_asr_share": {}, "rules_share_of_asr": {}}
    for layout in ("stereo", "mono"):
        own = [r for r in rows if r["layout"] == layout]
        if not own:
            continue
        ours_total = sum(r["audioqa_s"] for r in own)
        asr_total = sum(r["stages_s"].get("asr", 0) for r in own)
        summary["ratio_vs_baseline"][layout] = round(sum(r["baseline_s"] for r in own) / ours_total, 3)
        summary["non_asr_share"][layout] = round((ours_total - asr_total) / asr_total, 3) if asr_total else None
        rules_total = sum(r["stages_s"].get("rules", 0) for r in own)
        summary["rules_share_of_asr"][layout] = round(rules_total / asr_total, 4) if asr_total else None
    return {**summary, "calls": rows, "models": models.describe(), "cpu_threads": config.models.cpu_threads}


def write_results(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "results.json", out_dir / "results.md"
    write_atomic(json_path, json.dumps(results, indent=1) + "\n")
    stages = sorted({k for r in results["calls"] for k in r["rtf"]}, key=STAGES.index)
    lines = ["# audioqa benchmark", "",
             f"Models: {results['models']}; {results['cpu_threads']} thread(s) per process; one run, figures as "
             "ratios (shared machines are noisy).", "",
             f"Ratio to the naive baseline (baseline time / audioqa time): {results['ratio_vs_baseline']}  ",
             f"Non-ASR stages as a share of ASR time: {results['non_asr_share']}  ",
             f"Rules stage as a share of ASR time: {results.get('rules_share_of_asr')}", "",
             "| file | layout | s | " + " | ".join(f"RTF {s}" for s in stages) + " | RTF audioqa | RTF baseline | ratio | peak MB |",
             "|---|---|---|" + "---|" * len(stages) + "---|---|---|---|"]
    for r in results["calls"]:
        lines.append(f"| {r['file']} | {r['layout']} | {r['duration_s']} | "
                     + " | ".join(f"{r['rtf'].get(s, 0):.3f}" for s in stages)
                     + f" | {r['audioqa_rtf']:.3f} | {r['baseline_s'] / r['duration_s']:.3f} | "
                       f"{r['baseline_s'] / r['audioqa_s']:.2f} | {r['peak_rss_mb']['analysis']} |")
    write_atomic(md_path, "\n".join(lines) + "\n")
    return json_path, md_path
