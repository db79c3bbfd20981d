"""audioqa: offline quality assurance for call-center recordings."""

from .config import Config, load_config
from .errors import AudioError, AudioQAError, ConfigError, ModelLoadError, ParameterError
from .models import Models, load_models
from .pipeline import analyze
from .records import CallReport

__version__ = "0.1.0"

__all__ = ["AudioError", "AudioQAError", "CallReport", "Config", "ConfigError", "ModelLoadError", "Models",
           "ParameterError", "analyze", "load_config", "load_models", "__version__"]
