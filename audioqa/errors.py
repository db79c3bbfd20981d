"""The audioqa exception tree: one root, one class per kind of failure.

The CLI is the only place that turns these into exit codes; everything else raises.
"""

from __future__ import annotations


class AudioQAError(Exception):
    """Root of every error audioqa raises on purpose."""


class ConfigError(AudioQAError):
    """A configuration file or override is invalid; the message names each bad field."""


class ParameterError(AudioQAError):
    """A pure function was called with arguments it cannot work with."""


class AudioError(AudioQAError):
    """One recording cannot be used (unreadable, empty or silent); the message names the file."""

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelLoadError(AudioQAError):
    """A model could not be found or loaded; the message says where it looked."""


class RuleError(AudioQAError):
    """A rule pack is malformed; the message names the file, the line and the rule."""


class StoreError(AudioQAError):
    """The results database cannot be opened or written."""


class ReviewError(AudioQAError):
    """A review cannot be recorded or used (unknown call, bad span, no reviewer) or there are too few to fit."""
