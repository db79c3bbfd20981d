"""The ``audioqa`` command. Commands are thin: they parse options and call the library.

Errors become exit codes here and nowhere else: 0 all done, 1 some calls failed, 2 could not run.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .config import load_config
from .errors import AudioQAError

app = typer.Typer(add_completion=False, rich_markup_mode="rich", pretty_exceptions_show_locals=False,
                  context_settings={"help_option_names": ["-h", "--help"]})
err = Console(stderr=True, soft_wrap=True)  # one-line reasons stay on one line
out = Console(width=None if sys.stdout.isatty() else 140)  # logs and pipes get the whole table


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each stage.")] = False) -> None:
    """audioqa: offline quality assurance for call-center recordings."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(message)s")


def parse_channels(text: str) -> dict[str, int]:
    """``agent=1,customer=0`` → {"agent": 1, "customer": 0}."""
    mapping = {}
    for item in text.split(","):
        role, _, channel = item.partition("=")
        if role.strip() not in ("agent", "customer") or not channel.strip().isdigit():
            raise typer.BadParameter(f"expected agent=N,customer=M, got {text!r}")
        mapping[role.strip()] = int(channel)
    return mapping


@app.command()
def analyze(
    files: Annotated[list[Path], typer.Argument(help="Call recordings (WAV, MP3, FLAC, OGG/Opus, M4A, …).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for <call_id>.json/.srt/.rttm.")] = Path("out"),
    config_path: Annotated[Optional[Path], typer.Option("--config", help="YAML merged over configs/default.yaml.")] = None,
    language: Annotated[Optional[str], typer.Option(help="auto | zh | en")] = None,
    model: Annotated[Optional[str], typer.Option(help="Whisper: base, tiny.en, a model directory, or a hub name.")] = None,
    channels: Annotated[Optional[str], typer.Option(help="Stereo channel map, e.g. agent=1,customer=0.")] = None,
    min_speakers: Annotated[Optional[int], typer.Option(help="Mono calls: at least this many speakers.")] = None,
    max_speakers: Annotated[Optional[int], typer.Option(help="Mono calls: at most this many speakers.")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu | cuda")] = None,
    redact: Annotated[bool, typer.Option("--redact", help="Mask phone, ID, card numbers and e-mails in the reports.")] = False,
    redact_audio: Annotated[bool, typer.Option("--redact-audio", help="Also write <call_id>.redacted.wav with those spans silenced.")] = False,
    html_page: Annotated[bool, typer.Option("--html/--no-html", help="Write the spot-check page <call_id>.html.")] = True,
    html_audio: Annotated[str, typer.Option(help="embed (audio inside the page) | link (relative path to the recording)")] = "embed",
) -> None:
    """Analyse call recordings and write one report per call into --out.

    A file that cannot be analysed is reported with a one-line reason; the others go on.
    Exit code: 0 all done, 1 some calls failed, 2 nothing could run (bad config, models missing).
    """
    from .audio import SAMPLE_RATE_HZ
    from .html import write_call_page
    from .models import load_models
    from .pipeline import decode_and_analyze
    from .redact import redact_audio as redact_audio_samples
    from .redact import redact_report, write_wav
    from .report import summary_row, write_report

    overrides: dict = {}
    if language:
        overrides.setdefault("asr", {})["language"] = language
    if model:
        overrides.setdefault("models", {})["whisper"] = model
    if device:
        overrides.setdefault("models", {})["device"] = device
    if channels:
        overrides["channels"] = parse_channels(channels)
    if min_speakers or max_speakers:
        overrides["diarization"] = {"num_speakers": None, "min_speakers": min_speakers, "max_speakers": max_speakers}
    try:
        config = load_config(config_path, overrides)
        models = load_models(config.models, config.diarization, lazy_diarization=True)
    except AudioQAError as e:
        err.print(f"[red]error:[/red] {e}", markup=True, highlight=False)
        raise typer.Exit(code=2) from None

    rows, failed = [], []
    for path in files:
        try:
            audio, report = decode_and_analyze(path, models, config)
            samples = audio.samples
            if redact or redact_audio:
                report = redact_report(report)
            if redact_audio:
                samples = redact_audio_samples(samples, report.options["redactions"], sample_rate_hz=SAMPLE_RATE_HZ)
                write_wav(Path(out_dir) / f"{report.call_id}.redacted.wav", samples, sample_rate_hz=SAMPLE_RATE_HZ)
            write_report(report, out_dir)
            if html_page:
                link = os.path.relpath(Path(path).resolve(), Path(out_dir).resolve()) if html_audio == "link" else None
                write_call_page(report.to_dict(), Path(out_dir), samples=samples, audio_relative=link)
            rows.append(summary_row(report))
        except AudioQAError as e:
            failed.append(str(e))
            err.print(f"[red]failed:[/red] {e}", markup=True, highlight=False)
        except Exception as e:  # one bad call must not stop the others; say what broke, in one line
            failed.append(f"{path}: {type(e).__name__}: {e}")
            logging.getLogger("audioqa").debug("analysis of %s failed", path, exc_info=True)
            err.print(f"[red]failed:[/red] {failed[-1]}", markup=True, highlight=False)

    if rows:
        table = Table(title=f"audioqa: {len(rows)} call(s) → {out_dir}")
        for column in rows[0]:
            table.add_column(column)
        for row in rows:
            table.add_row(*row.values())
        out.print(table)
    if failed:
        err.print(f"{len(failed)} call(s) failed:\n  " + "\n  ".join(failed), highlight=False)
        raise typer.Exit(code=1)


def _require_data(path: Path) -> None:
    """Eval modes say so and exit 0 when their data is absent (a fresh clone has no ../shared)."""
    if not path.is_file():
        err.print(f"{path}: not found; nothing to evaluate", highlight=False)
        raise typer.Exit(code=0)


eval_app = typer.Typer(help="Measure accuracy on labelled data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@eval_app.command("agitation")
def eval_agitation(
    manifest: Annotated[Path, typer.Argument(help="TSV with path, emotion and actor (or speaker) columns.")],
    gain_normalize: Annotated[bool, typer.Option("--gain-normalize", help="Scale every clip to one speech level.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    config_path: Annotated[Optional[Path], typer.Option("--config", help="YAML merged over configs/default.yaml.")] = None,
) -> None:
    """ROC AUC of the agitation score, angry vs neutral, and happy clips flagged at 90 % angry recall.

    Each clip is scored as one turn against a baseline from the same speaker's other clips.
    Exits 0 with a message when the manifest is absent.
    """
    import json

    from .evaluate import evaluate_agitation

    _require_data(manifest)
    try:
        result = evaluate_agitation(manifest, load_config(config_path), gain_normalize=gain_normalize)
    except AudioQAError as e:
        err.print(f"[red]error:[/red] {e}", markup=True, highlight=False)
        raise typer.Exit(code=2) from None
    if as_json:
        print(json.dumps(result))
        return
    table = Table(title=f"agitation: {manifest}" + (" (gain-normalised)" if gain_normalize else ""))
    for key in result:
        table.add_column(key)
    table.add_row(*(str(v) for v in result.values()))
    out.print(table)


@eval_app.command("rules")
def eval_rules(
    utterances: Annotated[Path, typer.Argument(help="TSV with lang, role, text and expected (rule ids) columns.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    config_path: Annotated[Optional[Path], typer.Option("--config", help="YAML merged over configs/default.yaml.")] = None,
) -> None:
    """Precision and recall of the rule packs' text rules on labelled utterances (e.g. tests/data/rule_utterances.tsv)."""
    import json

    from .evaluate import evaluate_rules_on_utterances
    from .rules import load_pack

    _require_data(utterances)
    config = load_config(config_path)
    packs = {lang: load_pack(config.rules.pack_path(lang)) for lang in config.rules.packs}
    result = evaluate_rules_on_utterances(utterances, packs)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    table = Table(title=f"rules: {utterances}")
    for column in ("language", "utterances", "precision", "recall", "tp", "fp", "fn"):
        table.add_column(column)
    for lang, c in result["by_language"].items():
        table.add_row(lang, *(str(c[k]) for k in ("utterances", "precision", "recall", "tp", "fp", "fn")))
    out.print(table)
    for e in result["errors"]:
        out.print(f"  {e['lang']}: {e['text']!r}: expected {e['expected']}, fired {e['fired']}", highlight=False)


def _eval_table(title: str, rows: list[dict], as_json: bool) -> None:
    import json

    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title=title)
    for column in (rows[0] if rows else {"result": ""}):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    out.print(table)


@eval_app.command("diarization")
def eval_diarization(
    manifest: Annotated[Path, typer.Argument(help="TSV with path, reference (naming an RTTM) and n_speakers columns.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config_path: Annotated[Optional[Path], typer.Option("--config", help="YAML merged over configs/default.yaml.")] = None,
) -> None:
    """DER of the mono path at collars 0 and 0.25 s against reference RTTMs (pyannote.metrics)."""
    from .evaluate import evaluate_diarization
    from .models import load_diarization

    _require_data(manifest)
    config = load_config(config_path)
    pipeline, _ = load_diarization(config.models, config.diarization)
    _eval_table(f"diarization: {manifest}", evaluate_diarization(manifest, config, pipeline), as_json)


@eval_app.command("asr")
def eval_asr(
    manifest: Annotated[Path, typer.Argument(help="TSV with path, transcript and language columns.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config_path: Annotated[Optional[Path], typer.Option("--config", help="YAML merged over configs/default.yaml.")] = None,
) -> None:
    """WER (English) or CER (Chinese, after normalisation) of the recogniser against reference transcripts."""
    from .evaluate import evaluate_asr
    from .models import load_whisper

    _require_data(manifest)
    config = load_config(config_path)
    whisper, _ = load_whisper(config.models)
    _eval_table(f"asr: {manifest}", evaluate_asr(manifest, config, whisper), as_json)


rules_app = typer.Typer(help="Check rule packs.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


def _load_pack_or_exit(pack: Path):
    from .rules import RuleError, load_pack

    try:
        return load_pack(pack)
    except RuleError as e:
        err.print(str(e), highlight=False)
        raise typer.Exit(code=1) from None


@rules_app.command("validate")
def rules_validate(pack: Annotated[Path, typer.Argument(help="A rule pack (YAML).")]) -> None:
    """Load a pack and report the first problem as FILE:LINE: rule ID: reason. Exit 1 if invalid."""
    loaded = _load_pack_or_exit(pack)
    out.print(f"{pack}: {len(loaded.rules)} rules, valid", highlight=False)


@rules_app.command("test")
def rules_test(pack: Annotated[Path, typer.Argument(help="A rule pack (YAML).")]) -> None:
    """Run every rule's pass and fail examples. Exit 1 if any example does not behave as stated."""
    from .rules import run_examples

    loaded = _load_pack_or_exit(pack)
    failures = run_examples(loaded)
    n = sum(len(r.examples.get("pass", [])) + len(r.examples.get("fail", [])) for r in loaded.rules)
    for line in failures:
        err.print(line, highlight=False)
    out.print(f"{pack}: {n - len(failures)} of {n} examples behave as stated", highlight=False)
    if failures:
        raise typer.Exit(code=1)


@app.command()
def rescore(
    report_path: Annotated[Path, typer.Argument(metavar="REPORT.json", help="A report written by audioqa analyze.")],
    rules_path: Annotated[Optional[Path], typer.Option("--rules", help="Rule pack; default: the config's pack for the call's language.")] = None,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Where to write; default: replace the report.")] = None,
    config_path: Annotated[Optional[Path], typer.Option("--config", help="YAML merged over configs/default.yaml.")] = None,
) -> None:
    """Re-run the rules and the score on a stored report, without re-transcribing."""
    import json

    from .report import rescore_report, write_atomic
    from .rules import RuleError

    try:
        data = json.loads(report_path.read_text(encoding="utf-8"))
        pack = rules_path or load_config(config_path).rules.pack_path(data.get("language", ""))
        if pack is None:
            raise AudioQAError(f"no rule pack for language {data.get('language')!r}; pass --rules")
        data = rescore_report(data, pack)
    except (OSError, ValueError, KeyError, RuleError, AudioQAError) as e:
        err.print(f"[red]error:[/red] {report_path}: {e}", markup=True, highlight=False)
        raise typer.Exit(code=2) from None
    target = out_path or report_path
    write_atomic(target, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    score = data["score"]
    out.print(f"{target}: score {score['total']} ({'pass' if score['passed'] else 'fail'}), flags: "
              f"{', '.join(score['flags']) or 'none'}", highlight=False)


@app.command()
def batch(
    inputs: Annotated[list[Path], typer.Argument(help="Folders (searched recursively) and files.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for reports and, by default, audioqa.db.")] = Path("out"),
    db: Annotated[Optional[str], typer.Option(help="Database URL (default: sqlite:///OUT/audioqa.db), e.g. postgresql+psycopg://user@host/db.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes, each loading the models once.")] = 1,
    executor: Annotated[str, typer.Option(help="local | ray")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help="Existing Ray cluster (default: start a local one).")] = None,
    glob: Annotated[str, typer.Option(help="Only files matching this pattern, e.g. '*.wav'.")] = "*",
    since: Annotated[Optional[str], typer.Option(help="Only calls that started (or files modified) since this date.")] = None,
    config_path: Annotated[Optional[Path], typer.Option("--config", help="YAML merged over configs/default.yaml.")] = None,
) -> None:
    """Analyse every recording under the inputs: resumable, idempotent, one bad file never stops the batch.

    Exit code: 0 all done, 1 some calls failed (listed at the end), 2 the batch could not run.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from sqlalchemy.exc import SQLAlchemyError

    from .batch import parse_since, run_batch
    from .store import Store, default_url

    if executor not in ("local", "ray"):
        err.print(f"[red]error:[/red] --executor {executor!r}: local or ray", markup=True)
        raise typer.Exit(code=2)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                        console=err, transient=False)
    state = {"task": None, "t0": 0.0, "n": 0}

    def on_plan(jobs) -> None:
        import time

        state["task"] = progress.add_task("calls", total=len(jobs), rate="")
        state["t0"] = time.perf_counter()

    def on_progress(call_id: str, outcome: str) -> None:
        import time

        state["n"] += 1
        rate = state["n"] / max(1e-6, time.perf_counter() - state["t0"])
        progress.update(state["task"], advance=1, rate=f"{rate:.2f} calls/s", description=f"{outcome}: {call_id[:30]}")

    try:
        since_date = parse_since(since)
        load_config(config_path)
        out_dir.mkdir(parents=True, exist_ok=True)
        store = Store(db or default_url(out_dir))
        with progress:
            summary = run_batch(inputs, out_dir, store, config_path=str(config_path) if config_path else None,
                                workers=workers, executor=executor, glob=glob, since=since_date,
                                ray_address=ray_address, progress=on_progress, on_plan=on_plan)
    except SQLAlchemyError as e:
        err.print(f"[red]error:[/red] results database: {type(e).__name__}: {str(e).splitlines()[0]}", markup=True,
                  highlight=False)
        raise typer.Exit(code=2) from None
    except AudioQAError as e:
        err.print(f"[red]error:[/red] {e}", markup=True, highlight=False)
        raise typer.Exit(code=2) from None
    hours = summary.audio_ms / 3_600_000
    rtf = summary.processing_s / (summary.audio_ms / 1000) if summary.audio_ms else 0.0
    out.print(f"done {len(summary.analysed)}, re-scored {len(summary.rescored)}, skipped {len(summary.skipped)}, "
              f"failed {len(summary.failed)}; {hours:.2f} h of audio analysed in {summary.processing_s:.0f} s "
              f"(real-time factor {rtf:.3f})", highlight=False)
    if summary.failed:
        lines = [why if why.startswith(f"{p}:") else f"{p}: {why}" for p, why in summary.failed.items()]
        err.print("failed:\n  " + "\n  ".join(lines), highlight=False)
    raise typer.Exit(code=summary.exit_code)


@app.command("export")
def export_cmd(
    db: Annotated[str, typer.Option(help="Database URL, e.g. sqlite:///out/audioqa.db.")],
    out_path: Annotated[Path, typer.Option("--out", help="Output file; the events table goes beside it (NAME.events.EXT).")],
    fmt: Annotated[str, typer.Option("--format", help="csv | parquet | jsonl")] = "csv",
    since: Annotated[Optional[str], typer.Option(help="Only calls that started since this date.")] = None,
    by: Annotated[str, typer.Option(help="call (one row per call) | agent (aggregates per agent)")] = "call",
    redact: Annotated[bool, typer.Option("--redact/--no-redact", help="Mask PII in ids and paths (default: on).")] = True,
) -> None:
    """Scores, key metrics, event counts and a pass/fail column per rule, for QA tools."""
    from .batch import parse_since
    from .export import export
    from .store import Store

    if by not in ("call", "agent") or fmt not in ("csv", "parquet", "jsonl"):
        err.print("[red]error:[/red] --by call|agent and --format csv|parquet|jsonl", markup=True)
        raise typer.Exit(code=2)
    try:
        main_path, events_path, n = export(Store(db), out_path, fmt=fmt, since=parse_since(since), by=by, redact=redact)
    except AudioQAError as e:
        err.print(f"[red]error:[/red] {e}", markup=True, highlight=False)
        raise typer.Exit(code=2) from None
    out.print(f"{main_path}: {n} rows" + (f"; events: {events_path}" if events_path else ""), highlight=False)


@app.command()
def bench(
    out_dir: Annotated[Path, typer.Option("--out", help="Where results.md and results.json go.")] = Path("bench"),
    shared_data: Annotated[Path, typer.Option(help="../shared/data (the AWS calls are used when present).")] = Path("../shared/data"),
    config_path: Annotated[Optional[Path], typer.Option("--config", help="YAML merged over configs/default.yaml.")] = None,
) -> None:
    """Per-stage wall time, real-time factor and peak memory, against the naive faster-whisper + pyannote baseline."""
    from .bench import run_bench, write_results
    from .config import DEFAULT_CONFIG_PATH
    from .models import load_models

    config = load_config(config_path)
    models = load_models(config.models, config.diarization)
    sample_dir = DEFAULT_CONFIG_PATH.parent.parent / "sample_audio"
    if not shared_data.is_dir():
        err.print(f"{shared_data}: not found; benchmarking the sample calls only", highlight=False)
    results = run_bench(models, config, sample_dir, shared_data if shared_data.is_dir() else None)
    json_path, md_path = write_results(results, out_dir)
    out.print(md_path.read_text(encoding="utf-8"), highlight=False)
