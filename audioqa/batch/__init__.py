"""The nightly run and what feeds QA tools: planning (:mod:`.plan`), workers (:mod:`.executors`), the
results database (:mod:`.store`), the runner that ties them together (:mod:`.runner`) and exports
(:mod:`.export`)."""

from .executors import Summary
from .export import export
from .runner import parse_since, run_batch
from .store import Store, default_url

__all__ = ["Store", "Summary", "default_url", "export", "parse_since", "run_batch"]
