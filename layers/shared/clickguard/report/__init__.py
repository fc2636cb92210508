"""A self-contained HTML report (inline SVG, no scripts, no external URLs) of a training + scoring run."""

from clickguard.report.data import ReportData, from_quality
from clickguard.report.html import render, write

__all__ = ["ReportData", "from_quality", "render", "write"]
