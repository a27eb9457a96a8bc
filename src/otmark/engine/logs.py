"""Per-epoch training logs: ``log.csv`` and ``log.jsonl`` (rewritten atomically from the
history after each epoch, so a resumed run continues them), TensorBoard when installed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from otmark.engine.checkpoint import write_text_atomic


def history_to_csv(rows: list[dict]) -> str:
    """CSV text of the per-epoch log rows (columns: the union of keys, in first-seen order);
    event rows (with an ``event`` key) are in ``log.jsonl`` only."""
    rows = [r for r in rows if "event" not in r]
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buf.getvalue()


def history_to_jsonl(rows: list[dict]) -> str:
    """One JSON object per line."""
    return "".join(json.dumps(row, sort_keys=False) + "\n" for row in rows)


class RunLog:
    """Keeps the run's per-epoch rows and writes them under ``out_dir``.

    Args:
        out_dir: the run folder.
        history: rows restored from a checkpoint (resume).
        tensorboard: also write TensorBoard scalars (silently off if not installed).
    """

    def __init__(
        self, out_dir: str | Path, history: list[dict] | None = None, tensorboard: bool = False
    ) -> None:
        self.out_dir = Path(out_dir)
        self.rows: list[dict] = list(history or [])
        self._tb = None
        if tensorboard:
            try:
                # lazy: the tensorboard package is optional (not an otmark dependency)
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.out_dir / "tensorboard"))
            except ImportError:
                self._tb = None

    def append(self, row: dict) -> None:
        """Add one epoch's row and rewrite ``log.csv`` / ``log.jsonl``."""
        self.rows.append(dict(row))
        write_text_atomic(self.out_dir / "log.csv", history_to_csv(self.rows))
        write_text_atomic(self.out_dir / "log.jsonl", history_to_jsonl(self.rows))
        if self._tb is not None:
            step = int(row.get("epoch", len(self.rows)))
            for k, v in row.items():
                if isinstance(v, int | float) and k != "epoch":
                    self._tb.add_scalar(k, v, step)
            self._tb.flush()

    def event(self, row: dict) -> None:
        """Record an event (a dict with an ``event`` key, e.g. a resume override) in
        ``log.jsonl``; it is kept in :attr:`rows` (and so in checkpoints' history)."""
        self.rows.append(dict(row))
        write_text_atomic(self.out_dir / "log.jsonl", history_to_jsonl(self.rows))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
