"""Configuration is validated once, at load, and errors name the field."""

from __future__ import annotations

import pytest

from audioqa.config import load_config
from audioqa.errors import ConfigError


def test_defaults_load():
    config = load_config()
    assert config.channels.agent == 0 and config.asr.language == "auto"


def test_a_user_file_overrides_single_fields(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("channels: {agent: 1, customer: 0}\nasr: {language: zh}\n")
    config = load_config(path)
    assert (config.channels.agent, config.asr.language, config.asr.beam_size) == (1, "zh", 5)


def test_invalid_fields_are_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("asr: {language: fr, beam_size: 0}\nturns: {colour: red}\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    message = str(e.value)
    assert "bad.yaml" in message
    assert "asr.language" in message and "asr.beam_size" in message and "turns.colour" in message


def test_broken_yaml_is_a_config_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("asr: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_config(path)
