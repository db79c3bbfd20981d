"""``audioqa eval …`` (accuracy on labelled data) and ``audioqa rules …`` (checking rule packs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..config import load_config
from .common import ConfigOption, JsonOption, err, out, print_result, table


def _require_data(path: Path) -> None:
    """Eval modes say so and exit 0 when their data is absent (a fresh clone has no ../shared)."""
    if not path.is_file():
        err.print(f"{path}: not found; nothing to evaluate", highlight=False, markup=False)
        raise typer.Exit(code=0)


eval_app = typer.Typer(help="Measure accuracy on labelled data.", no_args_is_help=True)


@eval_app.command("agitation")
def eval_agitation(
    manifests: Annotated[list[Path], typer.Argument(help="TSVs with path, emotion and actor (or speaker) columns, "
                                                         "one per corpus.")],
    gain_normalize: Annotated[bool, typer.Option("--gain-normalize", help="Scale every clip to one speech level.")] = False,
    loco: Annotated[bool, typer.Option("--loco", help="Also score each corpus with weights learned on the others.")] = False,
    as_json: JsonOption = False,
    config_path: ConfigOption = None,
) -> None:
    """Per corpus and worst case: ROC AUC of the agitation score (angry vs neutral), and neutral, calm,
    happy and sad clips flagged at 90 % angry recall.

    Each clip is scored as one turn against a baseline from the same speaker's other clips.
    Absent manifests are skipped with a message; exits 0 when none is present.
    """
    from ..evaluation.agitation import evaluate_agitation

    config = load_config(config_path)
    present = [m for m in manifests if m.is_file()]
    for m in manifests:
        if not m.is_file():
            err.print(f"{m}: not found; skipped", highlight=False, markup=False)
    if not present:
        raise typer.Exit(code=0)
    result = evaluate_agitation(present, config, gain_normalize=gain_normalize, loco=loco)
    gain = " (gain-normalised)" if gain_normalize else ""
    print_result(f"agitation{gain}", [*result["corpora"], result["worst"]], as_json, whole=result)
    if loco and not as_json:
        rows = [{k: v for k, v in c.items() if k != "weights"} for c in result["loco"]["corpora"]]
        out.print(table(f"agitation, learned weights, each corpus left out{gain}", [*rows, result["loco"]["worst"]]))


@eval_app.command("calls")
def eval_calls(
    manifest: Annotated[Path, typer.Argument(help="TSV with path and agitated_ms (begin-end;...) columns; "
                                                  "optional layout, from_start, agent_calm.")],
    as_json: JsonOption = False,
    config_path: ConfigOption = None,
) -> None:
    """Whole calls against labelled agitation spans: span recall, calls with a false alarm, customers
    agitated from the first word found, counter-escalation on calm agents; per layout and overall.
    Make a dev set with tools/make_dev_calls.py."""
    from ..evaluation.calls import evaluate_calls, read_calls
    from ..models import load_models

    config = load_config(config_path)
    _require_data(manifest)
    read_calls(manifest)  # a malformed manifest fails before the models load
    models = load_models(config.models, config.diarization, lazy_diarization=True)
    result = evaluate_calls(manifest, models, config)
    rows = [{"layout": layout, **figures} for layout, figures in result["by_layout"].items()]
    print_result(f"calls: {manifest}", [*rows, {"layout": "all", **result["all"]}], as_json, whole=result)


@eval_app.command("rules")
def eval_rules(
    utterances: Annotated[Path, typer.Argument(help="TSV with lang, role, text and expected (rule ids) columns.")],
    as_json: JsonOption = False,
    config_path: ConfigOption = None,
) -> None:
    """Precision and recall of the rule packs' text rules on labelled utterances (e.g. tests/data/rule_utterances.tsv)."""
    from ..evaluation.accuracy import evaluate_rules_on_utterances
    from ..rules import load_pack

    config = load_config(config_path)
    _require_data(utterances)
    packs = {lang: load_pack(config.rules.pack_path(lang)) for lang in config.rules.packs}
    result = evaluate_rules_on_utterances(utterances, packs)
    rows = [{"language": lang, **{k: c[k] for k in ("utterances", "precision", "recall", "tp", "fp", "fn")}}
            for lang, c in result["by_language"].items()]
    print_result(f"rules: {utterances}", rows, as_json, whole=result)
    if not as_json:
        out.print(table("per rule", [{"rule": rule, **c} for rule, c in result["by_rule"].items()]))
        for e in result["errors"]:
            out.print(f"  {e['lang']}: {e['text']!r}: expected {e['expected']}, fired {e['fired']}",
                      highlight=False, markup=False)


@eval_app.command("diarization")
def eval_diarization(
    manifest: Annotated[Path, typer.Argument(help="TSV with path, reference (naming an RTTM) and n_speakers columns.")],
    as_json: JsonOption = False,
    config_path: ConfigOption = None,
) -> None:
    """DER of the mono path at collars 0 and 0.25 s against reference RTTMs (pyannote.metrics)."""
    from ..evaluation.accuracy import evaluate_diarization
    from ..models import load_diarization

    config = load_config(config_path)
    _require_data(manifest)
    pipeline, _ = load_diarization(config.models, config.diarization)
    print_result(f"diarization: {manifest}", evaluate_diarization(manifest, config, pipeline), as_json)


@eval_app.command("asr")
def eval_asr(
    manifest: Annotated[Path, typer.Argument(help="TSV with path, transcript and language columns.")],
    as_json: JsonOption = False,
    config_path: ConfigOption = None,
) -> None:
    """WER (English) or CER (Chinese, after normalisation) of the recogniser against reference transcripts."""
    from ..evaluation.accuracy import evaluate_asr
    from ..models import load_whisper

    config = load_config(config_path)
    _require_data(manifest)
    whisper, _ = load_whisper(config.models)
    print_result(f"asr: {manifest}", evaluate_asr(manifest, config, whisper), as_json)


@eval_app.command("reviews")
def eval_reviews(
    db: Annotated[str, typer.Option(help="Database URL of the results store, e.g. sqlite:///out/audioqa.db.")],
    since: Annotated[Optional[str], typer.Option(help="Only reviews given on or after this date (UTC).")] = None,
    as_json: JsonOption = False,
) -> None:
    """audioqa's precision per event type and per rule on the site's reviewed calls, the recall that the
    reviewers' marked misses imply, and both week by week."""
    from ..batch import Store, parse_since
    from ..review import all_reviews
    from ..review.accuracy import review_accuracy

    store = Store(db, create=False)
    store.migrate()
    result = review_accuracy(all_reviews(store, since=parse_since(since, utc=True)))
    if not result["overall"] and not as_json:
        err.print("no reviews yet: review calls with `audioqa review`", highlight=False, markup=False)
        return
    print_result("reviewed findings", result["overall"], as_json, whole=result)
    if not as_json and result["by_week"]:
        out.print(table("by week", result["by_week"]))


rules_app = typer.Typer(help="Check rule packs.", no_args_is_help=True)


@rules_app.command("validate")
def rules_validate(pack: Annotated[Path, typer.Argument(help="A rule pack (YAML).")]) -> None:
    """Load a pack; an invalid one is reported as FILE:LINE: rule ID: reason, with exit 2."""
    from ..rules import load_pack

    loaded = load_pack(pack)
    out.print(f"{pack}: {len(loaded.rules)} rules, valid", highlight=False, markup=False)


@rules_app.command("test")
def rules_test(pack: Annotated[Path, typer.Argument(help="A rule pack (YAML).")]) -> None:
    """Run every rule's pass and fail examples. Exit 1 if any example does not behave as stated, 2 if the
    pack is invalid."""
    from ..rules import load_pack, run_examples

    loaded = load_pack(pack)
    failures = run_examples(loaded)
    n = sum(len(r.examples.get("pass", [])) + len(r.examples.get("fail", [])) for r in loaded.rules)
    for line in failures:
        err.print(line, highlight=False, markup=False)
    out.print(f"{pack}: {n - len(failures)} of {n} examples behave as stated", highlight=False, markup=False)
    if failures:
        raise typer.Exit(code=1)
