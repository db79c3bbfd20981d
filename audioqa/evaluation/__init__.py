"""Measuring audioqa: accuracy on labelled data (:mod:`.accuracy`, the ``eval`` commands) and speed
against the naive baseline (:mod:`.bench`, the ``bench`` command)."""
