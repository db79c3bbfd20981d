"""``python -m audioqa`` runs the command line."""

from .cli import app

app(prog_name="audioqa")
