"""The command line: exit codes, one-line reasons, and nothing lost when one file is bad."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from audioqa import cli
from audioqa.cli import app, parse_channels

from .conftest import sample_path

runner = CliRunner()


def test_channel_map_option_is_parsed():
    assert parse_channels("agent=1,customer=0") == {"agent": 1, "customer": 0}


def test_bad_channel_map_is_refused():
    result = runner.invoke(app, ["analyze", "x.wav", "--channels", "agent=left"])
    assert result.exit_code == 2


def test_bad_config_exits_2_with_the_field_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("asr: {language: klingon}\n")
    result = runner.invoke(app, ["analyze", "x.wav", "--config", str(bad)])
    assert result.exit_code == 2
    assert "asr.language" in result.output


@pytest.mark.slow
def test_broken_files_fail_alone_with_a_reason(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.mp3").write_bytes(b"\x00\x01garbage" * 500)
    out = tmp_path / "out"
    good = sample_path("en_support_stereo_8k")
    result = runner.invoke(app, ["analyze", str(tmp_path / "empty.wav"), str(good), str(tmp_path / "junk.mp3"),
                                 "--out", str(out), "--language", "en"])
    assert result.exit_code == 1, result.output
    assert "2 call(s) failed" in result.output
    assert "empty.wav" in result.output and "junk.mp3" in result.output
    report = json.loads((out / "en_support_stereo_8k.json").read_text())
    assert report["call_id"] == "en_support_stereo_8k"


@pytest.mark.parametrize("command", [["analyze"], ["rescore"], ["rules", "validate"], ["rules", "test"],
                                     ["eval", "agitation"], ["eval", "calls"], ["eval", "rules"],
                                     ["eval", "diarization"], ["eval", "asr"], ["batch"], ["export"], ["bench"]])
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output
    assert cli.app.registered_commands


@pytest.mark.parametrize("mode", ["agitation", "calls", "rules", "diarization", "asr"])
def test_eval_without_data_says_so_and_exits_0(tmp_path, mode):
    result = runner.invoke(app, ["eval", mode, str(tmp_path / "MANIFEST.tsv"), "--json"])
    assert result.exit_code == 0
    assert "not found" in result.output


def test_eval_agitation_on_a_bad_manifest_exits_2(tmp_path):
    manifest = tmp_path / "MANIFEST.tsv"
    manifest.write_text("path\tlabel\nclip.wav\tangry\n")
    result = runner.invoke(app, ["eval", "agitation", str(manifest)])
    assert result.exit_code == 2
    assert "needs columns" in result.output


def test_eval_calls_on_a_bad_manifest_exits_2_before_loading_any_model(tmp_path):
    manifest = tmp_path / "MANIFEST.tsv"
    manifest.write_text("path\tagitated_ms\ncall.wav\tsoon\n")
    result = runner.invoke(app, ["eval", "calls", str(manifest)])
    assert result.exit_code == 2
    assert "'soon' is not begin-end in ms" in _one_line(result)


@pytest.mark.slow
def test_analyze_can_redact_the_report_and_the_audio(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(sample_path("en_support_stereo_8k")), "--out", str(out),
                                 "--language", "en", "--redact-audio"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "en_support_stereo_8k.json").read_text())
    assert report["options"]["redacted"] is True and report["options"]["redactions"] == []
    assert (out / "en_support_stereo_8k.redacted.wav").stat().st_size > 1000


@pytest.mark.skipif(__import__("ctranslate2").get_cuda_device_count() > 0, reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_in_one_line(tmp_path):
    result = runner.invoke(app, ["analyze", "sample_audio/en_complaint_mono.flac", "--device", "cuda",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "device cuda" in result.output and len(result.output.strip().splitlines()) == 1


def _one_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("command", [["analyze", "x.wav"], ["batch", "calls"], ["rescore", "x.json"],
                                     ["eval", "agitation", "M.tsv"], ["eval", "calls", "M.tsv"], ["eval", "rules", "U.tsv"],
                                     ["eval", "diarization", "M.tsv"], ["eval", "asr", "M.tsv"], ["bench"]])
def test_every_command_refuses_an_invalid_config_in_one_line_with_exit_2(tmp_path, command):
    bad = tmp_path / "bad.yaml"
    bad.write_text("asr: {language: klingon}\n")
    result = runner.invoke(app, [*command, "--config", str(bad)])
    assert result.exit_code == 2
    assert "asr.language" in _one_line(result)


@pytest.mark.parametrize("config", ["channels: {agent: 1, customer: 1}\n", "prosody: {frame_ms: 10}\n"])
def test_a_config_that_would_fail_every_call_is_refused_when_it_loads(tmp_path, config):
    bad = tmp_path / "bad.yaml"
    bad.write_text(config)
    result = runner.invoke(app, ["batch", str(tmp_path), "--config", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and _one_line(result).startswith("error:")
    assert not (tmp_path / "out").exists()


def test_export_from_a_database_that_cannot_be_opened_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["export", "--db", "nosuchdialect://x", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "results database" in _one_line(result)


def test_export_from_a_mistyped_database_path_creates_nothing_and_exits_2(tmp_path):
    missing = tmp_path / "audioqa.bd"
    result = runner.invoke(app, ["export", "--db", f"sqlite:///{missing}", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "no results database at" in _one_line(result)
    assert not missing.exists() and not (tmp_path / "x.csv").exists()


def test_export_from_a_database_without_audioqa_tables_exits_2(tmp_path):
    other = tmp_path / "other.db"
    __import__("sqlite3").connect(other).execute("create table t (x int)").connection.commit()
    result = runner.invoke(app, ["export", "--db", f"sqlite:///{other}", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "holds no audioqa results" in _one_line(result)


@pytest.mark.parametrize("command", [["rules", "validate"], ["rules", "test"]])
def test_an_invalid_rule_pack_is_one_line_and_exit_2(tmp_path, command):
    pack = tmp_path / "pack.yaml"
    pack.write_text("rules: [{id: x}]\n")
    result = runner.invoke(app, [*command, str(pack)])
    assert result.exit_code == 2 and "rule x" in _one_line(result)


@pytest.mark.parametrize("option", [["analyze", "x.wav", "--html-audio", "bogus"],
                                    ["analyze", "x.wav", "--device", "tpu"],
                                    ["analyze", "x.wav", "--language", "klingon"],
                                    ["batch", "calls", "--executor", "slurm"],
                                    ["export", "--db", "sqlite://", "--out", "x", "--format", "xlsx"],
                                    ["export", "--db", "sqlite://", "--out", "x", "--by", "queue"]])
def test_a_choice_outside_its_list_is_refused(option):
    result = runner.invoke(app, option)
    assert result.exit_code == 2 and "Invalid value" in result.output


def test_a_file_name_with_brackets_is_printed_as_it_is(tmp_path):
    missing = tmp_path / "[urgent] call.wav"
    result = runner.invoke(app, ["analyze", str(missing), "--out", str(tmp_path / "out"), "--language", "en"])
    assert result.exit_code == 1 and "[urgent] call.wav" in result.output


@pytest.mark.parametrize("command", ["analyze", "batch"])
def test_an_out_folder_that_is_a_file_is_one_line_and_exit_2_before_any_analysis(tmp_path, command):
    taken = tmp_path / "out"
    taken.write_text("not a folder")
    result = runner.invoke(app, [command, str(tmp_path / "missing.wav"), "--out", str(taken)])
    assert result.exit_code == 2, result.output
    assert "cannot be used as the output folder" in result.output and "Traceback" not in result.output


def test_a_file_name_that_is_not_utf8_fails_before_its_analysis_and_writes_nothing(tmp_path):
    import os

    bad = tmp_path / os.fsdecode(b"caller\xff.wav")
    bad.write_bytes(sample_path("en_support_stereo_8k").read_bytes())
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(bad), "--out", str(out), "--language", "en"])
    assert result.exit_code == 1 and "file name is not valid UTF-8" in result.output
    assert list(out.iterdir()) == []


def test_verbose_logs_each_stage(caplog):
    import logging

    from audioqa.pipeline import TimingHook

    runner.invoke(app, ["-v", "rules", "validate", "audioqa/configs/rules/en.yaml"])
    assert logging.getLogger("audioqa").getEffectiveLevel() == logging.INFO
    timing = TimingHook("call1")
    with caplog.at_level(logging.INFO, logger="audioqa"):
        timing("decode", None)
        timing("asr", None)
    assert [r.getMessage().split(" ")[:2] for r in caplog.records] == [["call1:", "decode"], ["call1:", "asr"]]
    assert set(timing.ms) == {"decode", "asr"}
    runner.invoke(app, ["rules", "validate", "audioqa/configs/rules/en.yaml"])


def test_the_summary_puts_the_qa_verdict_first():
    from audioqa.output import summary_row
    from audioqa.records import (CallOptions, CallReport, Conversation, Event, NonTalk, ResponseLatency, Scorecard,
                                 Source)

    conversation = Conversation({"agent": 12000, "customer": 9000}, NonTalk(4000, ()), (), (), {},
                                ResponseLatency(1500, 3000, 1, ()))
    events = tuple(Event(t, "S1", "customer", 0, 1000, 0.9, {})
                   for t in ("customer_agitation", "customer_agitation", "agent_freeze"))
    score = Scorecard(41.5, False, True, 70.0, {}, ("escalation_threat",))
    report = CallReport("c1", Source("c1.wav", "0", 30000, 8000, 2), "en", {}, (), (), conversation,
                        {"asr": 3000}, CallOptions("stereo", "0"), events=events, score=score)
    row = summary_row(report)
    assert list(row)[:8] == ["call", "lang", "layout", "s", "score", "result", "flags", "events"]
    assert (row["score"], row["result"], row["flags"]) == ("41.5", "FATAL", "escalation_threat")
    assert row["events"] == "agitation 2, freeze 1"
    assert row["talk s agent/cust."] == "12.0/9.0" and row["RTF"] == "0.10"


@pytest.mark.parametrize("command", [["analyze", "x.wav"], ["batch", "."]])
def test_a_broken_rule_pack_stops_the_run_before_any_call(tmp_path, command):
    pack = tmp_path / "site.yaml"
    pack.write_text("rules:\n  - {id: x, category: c, severity: minor, weight: 1, fail_if: {telepathy: 1}}\n")
    config = tmp_path / "site-config.yaml"
    config.write_text(f"rules: {{packs: {{en: {pack}}}}}\n")
    result = runner.invoke(app, [*command, "--config", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and f"{pack}:2: rule x" in _one_line(result)


@pytest.mark.parametrize("section, field", [("batch", "filename_pattern"), ("report", "call_id_pattern")])
def test_an_invalid_file_name_pattern_is_refused_when_the_config_loads(tmp_path, section, field):
    config = tmp_path / "bad.yaml"
    config.write_text(f"{section}: {{{field}: '(?P<call_id'}}\n")
    result = runner.invoke(app, ["batch", str(tmp_path), "--config", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and f"{section}.{field}" in _one_line(result)
