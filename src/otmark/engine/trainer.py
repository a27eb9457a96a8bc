"""``otmark train``: a config's splits loaded from files and trained by the engine
(:func:`otmark.engine.fit`); runs in one process or under ``torchrun`` (DDP)."""

from __future__ import annotations

from collections.abc import Callable

from otmark.datasets.leaks import screen_data_leaks
from otmark.engine import builders
from otmark.engine.config import ExperimentConfig
from otmark.engine.fitting import FitOptions, check_config, fit
from otmark.engine.precision import (  # noqa: F401 (amp_dtype_for, cpu_has_native_bf16: re-exported)
    amp_dtype_for,
    cpu_has_native_bf16,
)
from otmark.engine.setup import seed_everything  # noqa: F401 (re-exported)
from otmark.engine.signals import TrainingInterrupted, stop_on_signals  # noqa: F401 (re-exported)


def load_splits(cfg: ExperimentConfig) -> tuple[list, list | None]:
    """The training split (``data.train_split``, cut to ``data.limit``) and the validation
    split (``data.val_split``, cut to ``data.val_limit``; None when ``train.val_every`` is 0)
    of ``cfg``'s dataset."""
    d = cfg.data
    train_samples = builders.build_samples(cfg, d.train_split, d.limit)
    if cfg.train.val_every <= 0:
        return train_samples, None
    return train_samples, builders.build_samples(cfg, d.val_split, d.val_limit)


def train(
    cfg: ExperimentConfig,
    resume: bool = False,
    log: Callable[[str], None] = print,
    resume_override: bool = False,
) -> dict:
    """Run (or resume) the experiment ``cfg`` on its dataset's files; returns a summary dict
    with ``epochs``, ``best_nme``, ``best_path`` (None when no ``best.pt`` was written),
    ``last_metrics`` (rank 0 only), ``output_dir`` and this process's ``rank``; with a
    per-step schedule (``optim.schedule`` not ``multistep``) also ``steps`` and
    ``stopped_at_plateau`` (None without the plateau rule).

    Per-step schedules: the :class:`~otmark.engine.schedule.ScheduledLR` is stepped after every
    optimizer step and the run stops when the schedule is done; a plateau run validates every
    ``optim.plateau.val_every`` steps, writes ``last.pt`` there (and ``steps/stepNNNNNN.pt``
    with ``optim.plateau.keep_checkpoints``) and logs a row with ``step``. Every checkpoint
    holds the schedule's state, so a resumed run (from the end of an epoch or from inside one)
    continues it.

    ``resume`` continues from ``last.pt``; a config that changes the architecture, loss, codec,
    dataset or scheme is refused, other changes need ``resume_override`` (see
    :mod:`otmark.engine.resume`). Raises :class:`TrainingInterrupted` after SIGINT/SIGTERM (the
    state is in ``last.pt``). Any other exception inside an epoch first writes ``last.pt``
    (marked mid-epoch) and is then re-raised, with its ``otmark_checkpoint`` attribute set to
    that path. The run itself is :func:`otmark.engine.fit`'s.
    """
    check_config(cfg)
    train_samples, val_samples = load_splits(cfg)
    screen_data_leaks(train_samples, val_samples, cfg.data, log)  # faces in both splits, duplicates
    options = FitOptions(resume=resume, resume_override=resume_override, log=log)
    return fit(cfg, train_samples, val_samples, options).summary()
