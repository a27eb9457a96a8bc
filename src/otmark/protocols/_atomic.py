"""Kept for the modules that import it; atomic writing lives in :mod:`otmark.atomic`."""

from otmark.atomic import write_text_atomic

__all__ = ["write_text_atomic"]
