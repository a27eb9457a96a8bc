"""Readers and writers of the official face-landmark dataset formats.

Every reader returns :class:`otmark.datasets.records.Sample` records (0-based pixel coordinates,
pixel centres at integers, (x, y) order).
"""

from otmark.datasets.records import ImageRef, Sample

__all__ = ["ImageRef", "Sample"]
