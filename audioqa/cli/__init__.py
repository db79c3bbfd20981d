"""The ``audioqa`` command (Typer): :mod:`.main` holds the commands that analyse, :mod:`.checks` the ``eval``
and ``rules`` sub-commands, :mod:`.common` the error boundary and options they share."""

from .main import app, parse_channels

__all__ = ["app", "parse_channels"]
