"""What audioqa writes: per-call reports (JSON, SRT, RTTM), the spot-check page, redacted copies, and the
one atomic writer they all use."""

from .files import atomic_path, write_atomic
from .page import render_call_page, render_index, write_call_page
from .redact import find_pii, redact_audio, redact_report, write_wav
from .report import summary_row, write_report

__all__ = ["atomic_path", "find_pii", "redact_audio", "redact_report", "render_call_page", "render_index",
           "summary_row", "write_atomic", "write_call_page", "write_report", "write_wav"]
