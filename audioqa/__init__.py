"""audioqa: offline quality assurance for call-center recordings."""

from .config import Config, load_config
from .errors import (AudioError, AudioQAError, ConfigError, ModelLoadError, ParameterError, RuleError,
                     StoreError)
from .models import Models, load_models
from .pipeline import Hook, analyze, analyze_audio, decode_and_analyze
from .records import CallReport

__version__ = "0.1.0"

__all__ = ["AudioError", "AudioQAError", "CallReport", "Config", "ConfigError", "Hook", "ModelLoadError", "Models",
           "ParameterError", "RuleError", "StoreError", "analyze", "analyze_audio", "decode_and_analyze",
           "load_config", "load_models", "__version__"]
