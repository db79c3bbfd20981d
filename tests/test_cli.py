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
                                     ["eval", "agitation"], ["eval", "rules"], ["eval", "diarization"],
                                     ["eval", "asr"], ["batch"], ["export"], ["bench"]])
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output
    assert cli.app.registered_commands


@pytest.mark.parametrize("mode", ["agitation", "rules", "diarization", "asr"])
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
