"""The training engine: :func:`fit` trains a config on given samples.

Every training command goes through it: ``otmark train`` and ``otmark pretrain`` load their
splits from files (:func:`otmark.engine.train`), ``otmark study`` and ``otmark quickstart``
pass the faces they prepared (:func:`otmark.study.training.train_model`). One run is

1. set-up (:func:`otmark.engine.setup.build_run_parts`): seeding with ``train.seed``,
   ``train.deterministic`` and ``train.threads``, bad-sample screening (``data.on_error``),
   datasets, model, loss, optimiser, schedule, loaders;
2. resume (:func:`otmark.engine.resume.read_resume`, :func:`~otmark.engine.resume.restore_resume`);
3. epochs (:class:`Trainer`): ``train_one_epoch`` with the per-step run control
   (:class:`otmark.engine.stepping.StepRun`), validation (:mod:`otmark.engine.validation`),
   checkpoints (:func:`otmark.engine.checkpoint.write_checkpoint`), signals;

in one process or in every process of ``torchrun`` (DistributedDataParallel).
"""

from __future__ import annotations

import dataclasses
import math
import signal
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from otmark.engine import builders
from otmark.engine.batchnorm import recalibrate_batchnorm
from otmark.engine.checkpoint import ModelRecord, RunPosition, write_checkpoint, write_text_atomic
from otmark.engine.config import (
    ConfigError,
    ExperimentConfig,
    dump_config,
    validate_schedule,
    value_problems,
)
from otmark.engine.distributed import (
    all_reduce_sum,
    barrier,
    init_distributed,
    shutdown_distributed,
)
from otmark.engine.logs import RunLog
from otmark.engine.loop import EpochHooks, EpochResult, StepSettings, train_one_epoch
from otmark.engine.resume import ResumePoint, read_resume, restore_resume
from otmark.engine.setup import RunParts, build_run_parts, wrap_for_ddp
from otmark.engine.signals import TrainingInterrupted, no_signal_handling, stop_on_signals
from otmark.engine.spikes import AdaptiveClip, SpikeGuard
from otmark.engine.stepping import StepRun
from otmark.engine.validation import EpochEnd, epoch_row, format_row, validate, validates_after


@dataclass
class FitOptions:
    """How :func:`fit` runs, besides the config.

    Attributes:
        resume: continue from ``last.pt`` of the run folder (see :mod:`otmark.engine.resume`).
        resume_override: accept config changes that need ``--resume-override``.
        log: receives the progress lines (rank 0 only).
        run_folder: write ``train.output_dir`` (``config.yaml``, ``log.csv``/``log.jsonl``,
            ``last.pt``, ``best.pt``, periodic and validation checkpoints) and answer
            SIGINT/SIGTERM with a checkpoint and :class:`TrainingInterrupted`. Off: nothing is
            written but ``checkpoint``, and a signal acts as outside training.
        checkpoint: also write the final model there (an ``otmark detect``-loadable checkpoint
            without optimiser state).
        keep_every: per-step schedules: keep the weights (on the CPU) every this many steps and
            at the end in :attr:`FitResult.snapshots` (0: none).
        epoch_validation: validate every ``train.val_every`` epochs (off: only after the last
            epoch; a plateau run validates on its own cadence either way).
        validation_amp: validate under ``train.amp`` (off: in float32).
    """

    resume: bool = False
    resume_override: bool = False
    log: Callable[[str], None] = print
    run_folder: bool = True
    checkpoint: str | Path | None = None
    keep_every: int = 0
    epoch_validation: bool = True
    validation_amp: bool = True


@dataclass
class FitResult:
    """The outcome of :func:`fit`.

    Attributes:
        model: the final model (bare, in eval mode, on the training device).
        scheme, codec: the landmark scheme it predicts and the run's ``HeatmapCodec``.
        epochs: epochs done (a per-step run: epochs started).
        steps: optimizer steps of a per-step schedule (None for ``multistep``).
        val_nme: validation NME (%) of the final model (NaN: not validated; rank 0 only).
        best_nme, best_path: the best validation NME and ``best.pt`` (None when not written).
        last_metrics: the latest end-of-epoch validation metrics (rank 0).
        validations: a per-step run's rows ``{"step", "train_loss", "val_nme", "lr"}`` (a
            plateau run: every ``optim.plateau.val_every`` steps; and at the final step).
        history: the run folder's log rows (empty without a run folder).
        stopped_at_plateau: plateau run: stopped by the rule (False: by the cap); else None.
        seconds: wall time of the epochs (validation included).
        checkpoint: where :attr:`FitOptions.checkpoint` was written (None: not written).
        snapshots: ``(step, state_dict on CPU)`` kept by :attr:`FitOptions.keep_every`.
        output_dir: the run folder (None without one); rank: this process's rank.
    """

    model: torch.nn.Module
    scheme: str
    codec: object
    epochs: int
    steps: int | None = None
    val_nme: float = math.nan
    best_nme: float | None = None
    best_path: Path | None = None
    last_metrics: dict | None = None
    validations: list = field(default_factory=list)
    history: list = field(default_factory=list)
    stopped_at_plateau: bool | None = None
    seconds: float = 0.0
    checkpoint: Path | None = None
    snapshots: list = field(default_factory=list)
    output_dir: Path | None = None
    rank: int = 0

    def summary(self) -> dict:
        """:func:`otmark.engine.train`'s dict: ``epochs``, ``best_nme``, ``best_path`` (str or
        None), ``last_metrics``, ``output_dir``, ``rank``; per-step runs also ``steps`` and
        ``stopped_at_plateau``."""
        out = {
            "epochs": self.epochs,
            "best_nme": self.best_nme,
            "best_path": None if self.best_path is None else str(self.best_path),
            "last_metrics": self.last_metrics,
            "output_dir": None if self.output_dir is None else str(self.output_dir),
            "rank": self.rank,
        }
        if self.steps is not None:
            out.update(steps=self.steps, stopped_at_plateau=self.stopped_at_plateau)
        return out


def check_config(cfg: ExperimentConfig) -> None:
    """Raise :class:`ConfigError` for the first bad value or schedule of ``cfg``."""
    problems = value_problems(cfg)
    if problems:
        raise ConfigError(f"config {cfg.name!r}: {problems[0]}")
    validate_schedule(cfg, f"config {cfg.name!r}")


def fit(
    cfg: ExperimentConfig,
    train_samples: Sequence,
    val_samples: Sequence | None = None,
    options: FitOptions | None = None,
) -> FitResult:
    """Train ``cfg`` on ``train_samples`` (annotated faces, one scheme), validating on
    ``val_samples`` (None: no validation; a plateau run needs them).

    Joins the ``torchrun`` process group when launched by it (each process passes the same
    samples and trains on its share). Raises :class:`ConfigError` for a bad config,
    :class:`otmark.engine.resume.ResumeRefused`, ``FloatingPointError`` when the loss becomes
    non-finite, :class:`TrainingInterrupted` after SIGINT/SIGTERM with a run folder (the state
    is in ``last.pt``); any other exception inside an epoch first writes ``last.pt`` (marked
    mid-epoch; with a run folder) and is re-raised with its ``otmark_checkpoint`` attribute
    set to that path.
    """
    opts = options or FitOptions()
    check_config(cfg)
    if opts.resume and not opts.run_folder:
        raise ValueError("resume needs the run folder (FitOptions.run_folder)")
    train_samples = list(train_samples)
    if not train_samples:
        raise ValueError(f"{cfg.name}: the training set is empty, no training step can run")
    info = init_distributed(cfg.train.device)
    if not info.is_main:
        opts = dataclasses.replace(opts, log=_quiet)
    finished = False
    try:
        ckpt, overrides = read_resume(cfg, opts.resume_override) if opts.resume else (None, [])
        parts = build_run_parts(cfg, train_samples, val_samples, info, opts.log)
        start = ResumePoint()
        if ckpt is not None:
            start = restore_resume(ckpt, overrides, parts, opts.log)
        wrap_for_ddp(parts)
        result = Trainer(parts, opts, start).run()
        finished = True
        return result
    finally:
        shutdown_distributed(abandon=not finished)


def _quiet(_message: str) -> None:
    """The log of the processes other than rank 0."""


@dataclass
class EpochProgress:
    """The epoch under way: its index, its :class:`EpochResult` (counts include a resumed
    epoch's earlier part) and where it started (``position0`` local samples, ``images0``,
    ``seconds0``: zero unless resumed inside it)."""

    epoch: int
    result: EpochResult
    position0: int = 0
    images0: int = 0
    seconds0: float = 0.0

    @classmethod
    def begin(cls, epoch: int, partial: dict | None) -> EpochProgress:
        p = partial or {}
        images = p.get("images", 0)
        res = EpochResult(loss_sum=p.get("loss_sum", 0.0), images=images, steps=p.get("step", 0))
        return cls(epoch, res, p.get("position", 0), images, p.get("seconds", 0.0))

    def partial(self) -> dict:
        """The ``partial`` entry of a checkpoint written now."""
        r = self.result
        return {
            "position": self.position0 + r.images - self.images0,
            "loss_sum": r.loss_sum,
            "images": r.images,
            "seconds": self.seconds0 + r.seconds,
        }


class Trainer:
    """The epochs of one run: built by :func:`fit` from the set-up ``parts``, the options and
    the resume point; :meth:`run` trains to the end of the schedule.

    The run's state is on the instance: the best validation NME (``best``), the epoch under
    way (``current``), the latest validation metrics, the kept snapshots and the signals
    received. ``train_one_epoch`` calls :meth:`after_step` and :meth:`on_step`; the per-step
    run control (``step_run``) calls :meth:`validate_now` and :meth:`on_validation`.
    """

    def __init__(self, parts: RunParts, opts: FitOptions, start: ResumePoint) -> None:
        cfg = parts.cfg
        self.parts, self.opts, self.cfg, self.start = parts, opts, cfg, start
        self.log = opts.log
        self.out = cfg.output_path
        self.writes = opts.run_folder and parts.info.is_main
        self.best, self.best_written = start.best, start.best_written
        self.current: EpochProgress | None = None
        self.last_metrics: dict | None = None
        self.validated_at: int | None = None  # schedule step of the latest epoch validation
        self.snapshots: list = []
        self.received: list[int] = []
        self.record = ModelRecord(
            parts.model,
            cfg.model.name,
            builders.model_kwargs(cfg, parts.num_landmarks),
            parts.scheme,
            cfg.codec.to_dict(),
            cfg.to_dict(),
            parts.optimizer,
            parts.scheduler,
            parts.scaler,
        )
        self.guard = SpikeGuard.from_config(cfg.optim.spike_guard)  # None when off
        self.clipper = AdaptiveClip.from_config(cfg.optim.grad_clip_adaptive)  # None when off
        self.step_run = self._make_step_run()
        self.loss_fn = (
            parts.loss_fn if self.step_run is None else self.step_run.wrap_loss(parts.loss_fn)
        )
        self._log_start()
        self.runlog = self._open_run_folder()
        self.t0 = time.perf_counter()

    # -- set-up ----------------------------------------------------------------------------

    def _make_step_run(self) -> StepRun | None:
        if not self.cfg.optim.per_step:
            return None
        validate_fn = self.validate_now if self.parts.val_loader is not None else None
        return StepRun(
            self.parts.scheduler,
            self.cfg.optim.steps,
            validate_fn,
            self.on_validation,
            guard=self.guard,
            clipper=self.clipper,
        )

    def _log_start(self) -> None:
        p, cfg, info = self.parts, self.cfg, self.parts.info
        n_val = len(p.val_ds) if p.val_ds is not None else 0
        self.log(
            f"{cfg.name}: {len(p.train_ds)} training / {n_val} validation faces "
            f"({p.scheme}, {p.num_landmarks} landmarks); {cfg.model.name} "
            f"{p.n_params / 1e6:.2f} M parameters; {p.device} x {info.world} process(es); "
            f"amp {p.amp_dtype or 'off'}" + (f"; -> {self.out}" if self.opts.run_folder else "")
        )

    def _open_run_folder(self) -> RunLog | None:
        """Rank 0 with a run folder: create it, write ``config.yaml``, open the log (with the
        resumed history) and record the accepted resume overrides."""
        if not self.writes:
            return None
        self.out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.out / "config.yaml", dump_config(self.cfg))
        runlog = RunLog(self.out, self.start.history, tensorboard=self.cfg.train.tensorboard)
        if self.start.overrides:
            changes = {c.key: {"old": c.old, "new": c.new} for c in self.start.overrides}
            runlog.event(
                {"event": "resume_override", "epoch": self.start.epoch, "changes": changes}
            )
        return runlog

    # -- the run ---------------------------------------------------------------------------

    @property
    def shown_epochs(self) -> int | str:
        return "?" if self.cfg.optim.per_step else self.cfg.optim.epochs

    def done(self, epoch: int) -> bool:
        """Whether the run ends before epoch ``epoch``."""
        run = self.step_run
        return run.done if run is not None else epoch >= self.cfg.optim.epochs

    def run(self) -> FitResult:
        """Train epochs until the schedule is done; then the final validation and result."""
        guard = stop_on_signals if self.opts.run_folder else no_signal_handling
        with guard() as received:
            self.received = received
            epoch = self.start.epoch
            while not self.done(epoch):
                self.run_epoch(epoch)
                epoch += 1
        return self._finish(epoch)

    def run_epoch(self, epoch: int) -> None:
        """One epoch (continued from the resume point when it is the resumed one): train,
        then its row, validation and checkpoints. A signal writes ``last.pt`` and raises
        :class:`TrainingInterrupted`; another exception writes ``last.pt`` and is re-raised."""
        p = self.parts
        partial = self.start.partial if epoch == self.start.epoch else None
        cur = self.current = EpochProgress.begin(epoch, partial)
        p.sampler.set_epoch(epoch, start=cur.position0)
        p.train_ds.set_epoch(epoch)
        row = metrics = None
        try:
            self._train_epoch(cur)
            # a per-step run also ends its epoch early when the schedule is done
            signalled = cur.result.interrupted and bool(self.received)
            if not signalled:
                row, metrics = self._end_epoch(cur)
        except Exception as exc:
            if self.writes:
                self._save_after_error(exc)
            raise
        if signalled:
            self._stop_for_signal()
        self._close_epoch(cur, row, metrics)

    def _train_epoch(self, cur: EpochProgress) -> None:
        p, cfg = self.parts, self.cfg
        steps = StepSettings(
            amp_dtype=p.amp_dtype,
            scaler=p.scaler,
            channels_last=cfg.train.channels_last,
            scheduler=p.scheduler if cfg.optim.per_step else None,
            grad_clip_norm=cfg.optim.grad_clip_norm,
            spike_guard=self.guard,
            adaptive_clip=self.clipper,
        )
        hooks = EpochHooks(
            should_stop=self.after_step,
            on_step=self.on_step,
            progress=cfg.train.progress,
            desc=f"epoch {cur.epoch + 1}/{self.shown_epochs}",
        )
        net, loss_fn = p.net, self.loss_fn
        train_one_epoch(
            net,
            p.loader,
            loss_fn,
            p.optimizer,
            p.device,
            steps=steps,
            hooks=hooks,
            info=p.info,
            result=cur.result,
        )

    def _end_epoch(self, cur: EpochProgress) -> tuple[dict, dict | None]:
        """The epoch's row and validation (:func:`otmark.engine.validation.epoch_row`)."""
        run = self.step_run
        end = EpochEnd(
            epoch=cur.epoch,
            last=run.done if run is not None else cur.epoch + 1 == self.cfg.optim.epochs,
            plateau_run=run is not None and run.rule is not None,
            every_epoch=self.opts.epoch_validation,
            result=cur.result,
            seconds_before=cur.seconds0,
        )
        t_val = time.perf_counter()
        row, metrics = epoch_row(self.parts, end, self.opts.validation_amp)
        if run is not None:  # the next step's interval includes this validation
            row["steps"] = self.parts.scheduler.steps
            self.parts.scheduler.add_validation_seconds(time.perf_counter() - t_val)
            if validates_after(self.parts, end):
                self.validated_at = run.steps
        return row, metrics

    def _close_epoch(self, cur: EpochProgress, row: dict, metrics: dict | None) -> None:
        """Step a multi-step schedule; on rank 0 log the row and write ``last.pt`` (and
        ``best.pt`` when the validation NME improved); then a signal received stops the run."""
        if not self.cfg.optim.per_step:
            with warnings.catch_warnings():  # resumed after the epoch's last step
                warnings.filterwarnings(
                    "ignore", "Detected call of `lr_scheduler.step", UserWarning
                )
                self.parts.scheduler.step()
        if metrics is not None:
            self.last_metrics = metrics
        if self.parts.info.is_main:
            improved = "val_NME" in row and row["val_NME"] < self.best
            if improved:
                self.best = row["val_NME"]
            if self.runlog is not None:
                self.runlog.append(row)
            self.log(format_row(row, self.shown_epochs))
            if self.writes:
                self._checkpoint_epoch(cur, improved)
        barrier(self.parts.info)
        if self.received:
            raise TrainingInterrupted(self.received[0], self.out / "last.pt")

    # -- hooks of train_one_epoch and of the per-step run control --------------------------

    def after_step(self) -> bool:
        """After every optimizer step (every process): the per-step run's validation and
        stop, a snapshot when due; True to end the epoch (the run is done or a signal came)."""
        run, keep = self.step_run, self.opts.keep_every
        done = run.after_step() if run is not None else False
        if keep > 0 and run is not None and not done and run.steps % keep == 0:
            self.snapshots.append((run.steps, cpu_state(self.parts.model)))
        return done or bool(self.received)

    def on_step(self, result: EpochResult) -> None:
        """After every step: a periodic ``last.pt`` every ``train.checkpoint_every`` steps."""
        every = self.cfg.train.checkpoint_every
        if every > 0 and self.writes and result.steps % every == 0:
            self.write_mid_epoch("periodic")

    def validate_now(self) -> float:
        """The validation NME (%) now, on every process; the model is left in training mode."""
        p, n = self.parts, self.cfg.train.bn_recalibrate
        if n > 0:  # the running BatchNorm statistics of the current weights first
            amp = p.amp_dtype if self.opts.validation_amp else None
            recalibrate_batchnorm(p.model, p.loader, p.device, n, self.cfg.train.channels_last, amp)
        metrics = validate(self.parts, self.opts.validation_amp)
        self.parts.net.train()
        return all_reduce_sum([metrics["NME"] if metrics else 0.0], self.parts.info)[0]

    def on_validation(self, row: dict) -> None:
        """A per-step run's validation row: checkpoints, the log line."""
        self.checkpoint_at_validation(row)
        nme = "-" if row["val_nme"] is None else f"{row['val_nme']:.3f}%"
        run = self.step_run
        phase = run.rule.phase(row["step"]) if run is not None and run.rule else ""
        skipped = f"; {row['skipped_steps']} steps skipped" if "skipped_steps" in row else ""
        self.log(f"step {row['step']}: val NME {nme}  lr {row['lr']:.3g}  ({phase}){skipped}")
        barrier(self.parts.info)

    # -- checkpoints -----------------------------------------------------------------------

    def checkpoint_at_validation(self, row: dict) -> None:
        """A plateau run's validation: track the best NME; with a run folder (rank 0) log the
        row, write ``last.pt`` at this step (mid-epoch, with the schedule's state),
        ``best.pt`` when better, ``steps/stepNNNNNN.pt`` with ``plateau.keep_checkpoints``."""
        val = row["val_nme"]
        improved = val is not None and val < self.best
        if improved:
            self.best = val
        if self.runlog is None:
            return
        epoch = self.current.epoch if self.current is not None else self.start.epoch
        logged = {"epoch": epoch + 1, "step": row["step"], "lr": row["lr"]}
        logged.update(train_loss=row["train_loss"], val_NME=val)
        self.runlog.append(logged)
        metrics = {"NME": val} if val is not None else {}
        self.write_mid_epoch("validation", metrics=metrics)
        if improved:
            self.write_mid_epoch("validation", self.out / "best.pt", metrics)
            self.best_written = True
        if self.cfg.optim.plateau.keep_checkpoints:
            path = self.out / "steps" / f"step{row['step']:06d}.pt"
            self.write_mid_epoch("validation", path, metrics)

    def write_mid_epoch(
        self, reason: str, path: Path | None = None, metrics: dict | None = None
    ) -> Path:
        """Write a mid-epoch checkpoint of the epoch under way (``last.pt`` unless ``path``)."""
        cur = self.current
        position = RunPosition(
            epoch=cur.epoch,
            step=cur.result.steps,
            history=self.runlog.rows,
            best_nme=_finite(self.best),
            metrics=metrics,
            reason=reason,
            partial=cur.partial(),
        )
        return write_checkpoint(path or self.out / "last.pt", self.record, position)

    def _checkpoint_epoch(self, cur: EpochProgress, improved: bool) -> None:
        position = RunPosition(
            epoch=cur.epoch + 1,
            step=0,
            history=self.runlog.rows,
            best_nme=_finite(self.best),
            metrics=self.last_metrics or {},
        )
        write_checkpoint(self.out / "last.pt", self.record, position)
        if improved:
            write_checkpoint(self.out / "best.pt", self.record, position)
            self.best_written = True

    def _stop_for_signal(self) -> None:
        if self.writes:
            self.write_mid_epoch("signal")
        barrier(self.parts.info)
        signum = self.received[0] if self.received else signal.SIGTERM
        raise TrainingInterrupted(signum, self.out / "last.pt")

    def _save_after_error(self, exc: BaseException) -> None:
        """Write the mid-epoch checkpoint after ``exc``; a failure to write it is logged, and
        the original error is the one the caller re-raises."""
        path = self.out / "last.pt"
        try:
            self.write_mid_epoch("exception")
        except Exception as save_exc:  # e.g. the disk is full: last.pt keeps its old state
            self.log(f"could not save {path} after the error: {save_exc}")
            return
        exc.otmark_checkpoint = path
        cur = self.current
        self.log(
            f"saved {path} (epoch {cur.epoch + 1}, {cur.result.steps} steps done) after the "
            "error; fix it and continue with --resume"
        )

    # -- the end ---------------------------------------------------------------------------

    def _final_validation(self) -> float | None:
        """A per-step run's row at its final step (validating now unless the last epoch's
        validation was at that step); the final NME (rank 0; None when not validated)."""
        run = self.step_run
        if run is None:
            return (self.last_metrics or {}).get("NME")
        if run.rows and run.rows[-1]["step"] == run.steps:
            return run.rows[-1]["val_nme"]
        if self.parts.val_loader is None:
            return None
        if self.validated_at == run.steps:
            nme = (self.last_metrics or {}).get("NME")
        else:
            nme = self.validate_now()
        return run.record(nme, notify=False)["val_nme"]

    def _finish(self, epochs: int) -> FitResult:
        final = self._final_validation()
        model = self.parts.model
        model.eval()
        run = self.step_run
        if self.opts.keep_every > 0 and run is not None:
            self.snapshots.append((run.steps, cpu_state(model)))
        written = None
        if self.opts.checkpoint is not None and self.parts.info.is_main:
            written = self._write_model(Path(self.opts.checkpoint), epochs, final)
        if self.runlog is not None:
            self.runlog.close()
        best = self.out / "best.pt"
        return FitResult(
            model=model,
            scheme=self.parts.scheme,
            codec=self.cfg.codec,
            epochs=epochs,
            steps=None if run is None else run.steps,
            val_nme=math.nan if final is None else float(final),
            best_nme=_finite(self.best),
            best_path=best if self.best_written and best.is_file() else None,
            last_metrics=self.last_metrics,
            validations=[] if run is None else run.rows,
            history=[] if self.runlog is None else self.runlog.rows,
            stopped_at_plateau=None if run is None else run.stopped_at_plateau,
            seconds=time.perf_counter() - self.t0,
            checkpoint=written,
            snapshots=self.snapshots,
            output_dir=self.out if self.opts.run_folder else None,
            rank=self.parts.info.rank,
        )

    def _write_model(self, path: Path, epochs: int, final: float | None) -> Path:
        """The final model without optimiser state (:attr:`FitOptions.checkpoint`)."""
        record = dataclasses.replace(self.record, optimizer=None, scheduler=None, scaler=None)
        run = self.step_run
        position = RunPosition(
            epoch=epochs,
            history=run.rows if run is not None else (self.runlog.rows if self.runlog else []),
            best_nme=final,
            metrics={"NME": final} if final is not None else {},
        )
        return write_checkpoint(path, record, position)


def cpu_state(model: torch.nn.Module) -> dict:
    """A copy of ``model``'s state dict on the CPU."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


__all__ = ["FitOptions", "FitResult", "Trainer", "check_config", "fit"]
