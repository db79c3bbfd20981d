"""QA rules as data: packs of YAML rules over what was said, when, by whom, and the detector events."""

from .engine import CallView, evaluate, evaluate_pack, evaluate_rule, example_view, run_examples
from .pack import Pack, Rule, RuleError, load_pack, parse_pack

__all__ = ["CallView", "Pack", "Rule", "RuleError", "evaluate", "evaluate_pack", "evaluate_rule", "example_view",
           "load_pack", "parse_pack", "run_examples"]
