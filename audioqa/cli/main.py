"""The ``audioqa`` command. Commands are thin: they parse options and call the library.

Errors become exit codes in one place, :class:`~audioqa.cli.common.ErrorsToExitCodes`: any
:class:`AudioQAError` (a bad configuration, rule pack, results database or recording) is one line on
stderr and exit 2. Per-call failures in ``analyze`` and ``batch`` are listed and give exit 1. So: 0 all
done, 1 some calls failed, 2 nothing could run.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.text import Text

from .. import __version__
from ..config import load_config
from ..errors import AudioQAError, StoreError
from .checks import eval_app, rules_app
from .common import (ConfigOption, Device, ErrorsToExitCodes, Executor, ExportBy, ExportFormat, HtmlAudio, Language,
                     err, out, output_folder, say, table)

app = typer.Typer(cls=ErrorsToExitCodes, add_completion=False, rich_markup_mode="rich",
                  pretty_exceptions_show_locals=False, context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(eval_app, name="eval")
app.add_typer(rules_app, name="rules")


def _version(value: bool) -> None:
    if value:
        print(f"audioqa {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each stage of each call, with its time.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """audioqa: offline quality assurance for call-center recordings."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("audioqa").setLevel(logging.INFO if verbose else logging.WARNING)


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
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for <call_id>.json/.srt/.rttm/.html.")] = Path("out"),
    config_path: ConfigOption = None,
    language: Annotated[Optional[Language], typer.Option(help="The calls' language; auto detects it.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Whisper: base, tiny.en, a model directory, or a hub name.")] = None,
    channels: Annotated[Optional[str], typer.Option(help="Stereo channel map, e.g. agent=1,customer=0.")] = None,
    min_speakers: Annotated[Optional[int], typer.Option(help="Mono calls: at least this many speakers.")] = None,
    max_speakers: Annotated[Optional[int], typer.Option(help="Mono calls: at most this many speakers.")] = None,
    device: Annotated[Optional[Device], typer.Option(help="Where the models run.")] = None,
    redact: Annotated[bool, typer.Option("--redact", help="Mask phone, ID, card numbers and e-mails in the reports.")] = False,
    redact_audio: Annotated[bool, typer.Option("--redact-audio", help="Also write <call_id>.redacted.wav with those spans silenced.")] = False,
    html_page: Annotated[bool, typer.Option("--html/--no-html", help="Write the spot-check page <call_id>.html.")] = True,
    html_audio: Annotated[HtmlAudio, typer.Option(help="embed: audio inside the page; link: a relative path to the recording.")] = "embed",
) -> None:
    """Analyse call recordings and write one report per call into --out; print a summary table.

    A file that cannot be analysed is reported with a one-line reason; the others go on.
    Exit code: 0 all done, 1 some calls failed, 2 nothing could run (bad config, models missing).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..audio import SAMPLE_RATE_HZ
    from ..models import load_models
    from ..output import redact_report, summary_row, write_call_page, write_report, write_wav
    from ..output import redact_audio as redact_audio_samples
    from ..pipeline import decode_and_analyze
    from ..scoring import check_packs

    overrides: dict[str, Any] = {}
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
    config = load_config(config_path, overrides)
    check_packs(config)
    output_folder(out_dir)
    models = load_models(config.models, config.diarization, lazy_diarization=True)

    rows, failed = [], []
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err, transient=True)
    with progress:
        task = progress.add_task("calls", total=len(files))
        for path in files:
            def show_stage(stage: str, _artefact: Any, name: str = Path(path).name) -> None:
                progress.update(task, description=f"{name[:40]}: {stage} done")

            try:
                try:
                    os.fsencode(path).decode("utf-8")
                except UnicodeDecodeError:  # its reports could not be named: say so before the analysis
                    raise AudioQAError(f"{os.fsencode(path).decode('utf-8', 'backslashreplace')}: "
                                       "file name is not valid UTF-8: rename the file") from None
                audio, report = decode_and_analyze(path, models, config, hook=show_stage)
                samples = audio.samples
                if redact or redact_audio:
                    report = redact_report(report)
                if redact_audio:
                    samples = redact_audio_samples(samples, report.options.redactions, sample_rate_hz=SAMPLE_RATE_HZ)
                    write_wav(out_dir / f"{report.call_id}.redacted.wav", samples, sample_rate_hz=SAMPLE_RATE_HZ)
                write_report(report, out_dir)
                if html_page:
                    link = (os.path.relpath(Path(path).resolve(), out_dir.resolve())
                            if html_audio == "link" else None)
                    write_call_page(report.to_dict(), out_dir, samples=samples, audio_relative=link)
                rows.append(summary_row(report))
            except AudioQAError as e:
                failed.append(str(e))
                say("failed", failed[-1])
            except Exception as e:  # one bad call must not stop the others; say what broke, in one line
                shown = os.fsencode(path).decode("utf-8", "backslashreplace")
                failed.append(f"{shown}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                logging.getLogger("audioqa").debug("analysis of %s failed", path, exc_info=True)
                say("failed", failed[-1])
            progress.advance(task)

    if rows:
        out.print(table(f"audioqa: {len(rows)} call(s) → {out_dir}", rows))
    if failed:
        err.print(f"{len(failed)} call(s) failed:\n  " + "\n  ".join(failed), highlight=False, markup=False)
        raise typer.Exit(code=1)


@app.command()
def rescore(
    report_path: Annotated[Path, typer.Argument(metavar="REPORT.json", help="A report written by audioqa analyze.")],
    rules_path: Annotated[Optional[Path], typer.Option("--rules", help="Rule pack; default: the config's pack for the call's language.")] = None,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Where to write; default: replace the report.")] = None,
    config_path: ConfigOption = None,
) -> None:
    """Re-run the rules and the score on a stored report, without re-transcribing."""
    from ..output.report import write_report_data
    from ..scoring import rescore_report

    config = load_config(config_path)
    try:
        data = json.loads(report_path.read_text(encoding="utf-8"))
        pack = rules_path or config.rules.pack_path(data.get("language", ""))
        if pack is None:
            raise AudioQAError(f"{report_path}: no rule pack for language {data.get('language')!r}; pass --rules")
        data = rescore_report(data, pack, config.rules.disabled)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AudioQAError(f"{report_path}: not a readable audioqa report ({type(e).__name__}: {e})") from None
    target = out_path or report_path
    write_report_data(data, target)
    score = data["score"]
    out.print(f"{target}: score {score['total']} ({'pass' if score['passed'] else 'fail'}), flags: "
              f"{', '.join(score['flags']) or 'none'}", highlight=False, markup=False)


@app.command()
def batch(
    inputs: Annotated[list[Path], typer.Argument(help="Folders (searched recursively) and files.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for reports and, by default, audioqa.db.")] = Path("out"),
    db: Annotated[Optional[str], typer.Option(help="Database URL (default: sqlite:///OUT/audioqa.db), e.g. postgresql+psycopg://user@host/db.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes, each loading the models once.")] = 1,
    executor: Annotated[Executor, typer.Option(help="local processes, or Ray actors.")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help="Existing Ray cluster (default: start a local one).")] = None,
    glob: Annotated[str, typer.Option(help="Only files matching this pattern, e.g. '*.wav'.")] = "*",
    since: Annotated[Optional[str], typer.Option(help="Only calls that started (or files modified) since this date.")] = None,
    config_path: ConfigOption = None,
) -> None:
    """Analyse every recording under the inputs: resumable, idempotent, one bad file never stops the batch.

    Exit code: 0 all done, 1 some calls failed (listed at the end), 2 the batch could not run, 130 / 143
    stopped by Ctrl-C / SIGTERM (rerun to finish).
    """
    import signal
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from sqlalchemy.exc import SQLAlchemyError

    from ..batch import Store, default_url, parse_since, run_batch

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                        console=err, transient=False)
    state = {"task": None, "t0": 0.0, "n": 0}

    def on_plan(jobs) -> None:
        state["task"] = progress.add_task("calls", total=sum(j.action != "ignore" for j in jobs), rate="")
        state["t0"] = time.perf_counter()

    def on_progress(call_id: str, outcome: str) -> None:
        state["n"] += 1
        rate = state["n"] / max(1e-6, time.perf_counter() - state["t0"])
        progress.update(state["task"], advance=1, rate=f"{rate:.2f} calls/s",
                        description=Text(f"{outcome}: {call_id[:30]}"))

    since_date = parse_since(since)
    load_config(config_path)
    output_folder(out_dir)
    try:
        store = Store(db or default_url(out_dir))
        with progress:
            summary = run_batch(inputs, out_dir, store, config_path=str(config_path) if config_path else None,
                                workers=workers, executor=executor, glob=glob, since=since_date,
                                ray_address=ray_address, progress=on_progress, on_plan=on_plan)
    except SQLAlchemyError as e:
        raise StoreError(f"results database: {type(e).__name__}: {str(e).splitlines()[0]}") from None
    hours = summary.audio_ms / 3_600_000
    rtf = summary.processing_s / (summary.audio_ms / 1000) if summary.audio_ms else 0.0
    elsewhere = f", left to another batch {len(summary.elsewhere)}" if summary.elsewhere else ""
    out.print(f"done {len(summary.analysed)}, re-scored {len(summary.rescored)}, skipped {len(summary.skipped)}"
              f"{elsewhere}, failed {len(summary.failed)}; {hours:.2f} h of audio analysed in "
              f"{summary.processing_s:.0f} s (real-time factor {rtf:.3f})", highlight=False)
    if summary.stopped_by:
        say("stopped", f"by {signal.Signals(summary.stopped_by).name}: the calls in progress are pending again; "
                       "run the same command to finish", style="yellow")
    if summary.ignored:
        shown = ", ".join(summary.ignored[:5]) + (f" and {len(summary.ignored) - 5} more" if len(summary.ignored) > 5 else "")
        say("ignored", f"{len(summary.ignored)} file(s) whose names are not audio file names "
                       f"(batch.extensions): {shown}", style="yellow")
    if summary.failed:
        lines = [why if why.startswith(f"{p}:") else f"{p}: {why}" for p, why in summary.failed.items()]
        err.print("failed:\n  " + "\n  ".join(lines), highlight=False, markup=False)
    raise typer.Exit(code=summary.exit_code)


@app.command("export")
def export_cmd(
    db: Annotated[str, typer.Option(help="Database URL, e.g. sqlite:///out/audioqa.db.")],
    out_path: Annotated[Path, typer.Option("--out", help="Output file; the events table (per call) or each agent's "
                                                         "nights (per agent) go beside it: NAME.events.EXT, NAME.nights.EXT.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="File format.")] = "csv",
    since: Annotated[Optional[str], typer.Option(help="Only calls that started since this date.")] = None,
    by: Annotated[ExportBy, typer.Option(help="call: one row per call; agent: aggregates per agent, and per agent and night.")] = "call",
    redact: Annotated[bool, typer.Option("--redact/--no-redact", help="Mask PII in ids and paths (default: on).")] = True,
) -> None:
    """Scores, key metrics, event counts and a pass/fail column per rule, for QA tools."""
    from ..batch import Store, export, parse_since

    main_path, companion, n = export(Store(db, create=False), out_path, fmt=fmt, since=parse_since(since), by=by,
                                     redact=redact)
    out.print(f"{main_path}: {n} rows; {'events' if by == 'call' else 'nights'}: {companion}", highlight=False,
              markup=False)


@app.command()
def review(
    out_dir: Annotated[Path, typer.Option("--out", help="The batch's output folder (its audioqa.db is the default --db).")] = Path("out"),
    db: Annotated[Optional[str], typer.Option(help="Database URL (default: sqlite:///OUT/audioqa.db).")] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on; the default lets only this machine in. "
                                           "0.0.0.0 opens it to the network.")] = "127.0.0.1",
) -> None:
    """A local web app where QA reviewers confirm or reject each event and rule result and mark missed events.

    Reviews are stored in the results database, kept across restarts and re-analysis.
    """
    from ..batch import Store, default_url
    from ..review.app import serve

    store = Store(db or default_url(out_dir), create=False)  # a mistyped path is an error, not a new database
    store.migrate()  # a store from before reviews gains their table
    server = serve(store, host=host, port=port)
    name = "localhost" if host == "127.0.0.1" else f"[{host}]" if ":" in host else host
    out.print(f"audioqa review: http://{name}:{server.effective_port}/ "
              f"(Ctrl-C to stop)", highlight=False, markup=False)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@app.command()
def calibrate(
    db: Annotated[str, typer.Option(help="Database URL of the results store, e.g. sqlite:///out/audioqa.db.")],
    out_path: Annotated[Path, typer.Option("--out", help="The configuration overlay to write (YAML), for --config.")],
    holdout: Annotated[float, typer.Option(min=0.05, max=0.8, help="Share of reviewed calls held back to check the fit.")] = 0.3,
    min_calls: Annotated[int, typer.Option(min=2, help="Calls reviewed to the end needed to fit anything.")] = 20,
    seed: Annotated[int, typer.Option(help="Changes which calls are held back.")] = 0,
    config_path: ConfigOption = None,
) -> None:
    """Fit the detector thresholds (and which rules apply) to this site's reviews, checked on held-back calls.

    Writes the site's configuration (--config's content, if given, with the adopted values) to --out.
    """
    from datetime import datetime, timezone

    import yaml

    from ..batch import Store
    from ..output import write_atomic
    from ..review import all_reviews
    from ..review.calibrate import calibrate as fit, overlay_text

    config = load_config(config_path)
    store = Store(db, create=False)
    store.migrate()
    result = fit(store, config, all_reviews(store), holdout=holdout, seed=seed, min_calls=min_calls)
    rows = [{"event": f.event_type, "parameter": f.parameter, "current": f.current, "fitted": f.fitted,
             "adopted": "yes" if f.adopted else "no", "why": f.why,
             "held-back P": f"{f.held_before['precision']} -> {f.held_after['precision']}",
             "held-back R": f"{f.held_before['recall']} -> {f.held_after['recall']}",
             "fitted P": f"{f.fit_before['precision']} -> {f.fit_after['precision']}",
             "fitted R": f"{f.fit_before['recall']} -> {f.fit_after['recall']}"} for f in result.fits]
    out.print(table(f"thresholds: {result.calls_fitted} calls fitted, {result.calls_held_back} held back", rows))
    if result.rules:
        out.print(table("rules (share of reported failures that reviewers confirmed)",
                        [{"rule": r.rule_id, "fitted": f"{r.fit_precision} of {r.fit_failures}",
                          "held back": f"{r.held_precision} of {r.held_failures}",
                          "turned off": "yes" if r.disable else "no"} for r in result.rules]))
    base = yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path else None
    write_atomic(out_path, overlay_text(result, base, when=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")))
    out.print(f"{out_path}: written; use it with --config {out_path}", highlight=False, markup=False)


@app.command()
def bench(
    out_dir: Annotated[Path, typer.Option("--out", help="Where results.md and results.json go.")] = Path("bench"),
    samples: Annotated[Path, typer.Option(help="The sample calls to time.")] = Path("sample_audio"),
    shared_data: Annotated[Path, typer.Option(help="../shared/data (the AWS calls are used when present).")] = Path("../shared/data"),
    config_path: ConfigOption = None,
) -> None:
    """Per-stage wall time, real-time factor and peak memory, against the naive faster-whisper + pyannote baseline."""
    from ..evaluation.bench import run_bench, write_results
    from ..models import load_models

    config = load_config(config_path)
    if not samples.is_dir():
        raise AudioQAError(f"{samples}: no such directory of sample calls; pass --samples")
    models = load_models(config.models, config.diarization)
    if not shared_data.is_dir():
        err.print(f"{shared_data}: not found; benchmarking the sample calls only", highlight=False, markup=False)
    results = run_bench(models, config, samples, shared_data if shared_data.is_dir() else None)
    json_path, md_path = write_results(results, out_dir)
    out.print(md_path.read_text(encoding="utf-8"), highlight=False, markup=False)
