"""``otmark train``: the whole run (setup, resume, epochs, validation, checkpoints, signals).

Composed of the functions in :mod:`~otmark.engine.builders`, :mod:`~otmark.engine.loop` and
:mod:`~otmark.engine.checkpoint`; runs in one process or under ``torchrun`` (DDP).
"""

from __future__ import annotations

import math
import os
import random
import signal
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from otmark.engine import builders
from otmark.engine.checkpoint import (
    read_training_checkpoint,
    restore_checkpoint,
    save_checkpoint,
    unwrap,
    write_text_atomic,
)
from otmark.engine.config import (
    ConfigError,
    ExperimentConfig,
    _validate_schedule,
    dump_config,
    value_problems,
)
from otmark.engine.distributed import (
    DistInfo,
    all_reduce_sum,
    barrier,
    init_distributed,
    shutdown_distributed,
)
from otmark.engine.logs import RunLog
from otmark.engine.loop import EpochResult, evaluate, train_one_epoch
from otmark.engine.precision import (  # noqa: F401 (amp_dtype_for, cpu_has_native_bf16: re-exported)
    amp_dtype_for,
    cpu_has_native_bf16,
    make_grad_scaler,
)
from otmark.engine.resume import ResumeRefused, apply_optim_settings, check_resume
from otmark.engine.sampler import EpochSampler
from otmark.engine.stepping import StepRun


class TrainingInterrupted(Exception):
    """Raised after the interrupt checkpoint was written; ``signum`` is the signal received."""

    def __init__(self, signum: int, checkpoint: Path) -> None:
        super().__init__(f"interrupted by signal {signum}; state saved to {checkpoint}")
        self.signum = signum
        self.checkpoint = checkpoint


def seed_everything(seed: int, deterministic: bool = False, threads: int = 0) -> None:
    """Seed torch, numpy and Python; optionally make torch deterministic."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the global RNG other libraries use)
    random.seed(seed)


@contextmanager
def stop_on_signals(signals=(signal.SIGINT, signal.SIGTERM)):
    """Catch SIGINT/SIGTERM while inside: yields a list that receives the signal numbers."""
    received: list[int] = []

    def handler(signum, frame):
        received.append(signum)

    old = {}
    try:
        for s in signals:
            old[s] = signal.signal(s, handler)
    except ValueError:  # not in the main thread: leave signals alone
        pass
    try:
        yield received
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _format_row(row: dict, epochs: int | str) -> str:
    parts = [
        f"epoch {row['epoch']}/{epochs}" + (f" (step {row['steps']})" if "steps" in row else ""),
        f"loss {row['train_loss']:.5g}",
        f"lr {row['lr']:.3g}",
        f"{row['images_per_s']:.1f} img/s",
    ]
    if "val_NME" in row:
        parts.append(f"val NME {row['val_NME']:.3f}%")
    return "  ".join(parts)


def train(
    cfg: ExperimentConfig,
    resume: bool = False,
    log: Callable[[str], None] = print,
    resume_override: bool = False,
) -> dict:
    """Run (or resume) the experiment ``cfg``; returns a summary dict with ``epochs``,
    ``best_nme``, ``best_path`` (None when no ``best.pt`` was written), ``last_metrics`` (rank 0
    only), ``output_dir`` and this process's ``rank``; with a per-step schedule
    (``optim.schedule`` not ``multistep``) also ``steps`` and ``stopped_at_plateau`` (None
    without the plateau rule).

    Per-step schedules: the :class:`~otmark.engine.schedule.ScheduledLR` is stepped after every
    optimizer step and the run stops when the schedule is done (:class:`StepRun`); a plateau
    run validates every ``optim.plateau.val_every`` steps, writes ``last.pt`` there (and
    ``steps/stepNNNNNN.pt`` with ``optim.plateau.keep_checkpoints``) and logs a row with
    ``step``. Every checkpoint holds the schedule's state, so a resumed run (from the end of an
    epoch or from inside one) continues it.

    ``resume`` continues from ``last.pt``; a config that changes the architecture, loss, codec,
    dataset or scheme is refused, other changes need ``resume_override`` (see
    :mod:`otmark.engine.resume`). Raises :class:`TrainingInterrupted` after SIGINT/SIGTERM (the
    state is in ``last.pt``). Any other exception inside an epoch first writes ``last.pt``
    (marked mid-epoch) and is then re-raised, with its ``otmark_checkpoint`` attribute set to
    that path.
    """
    info = init_distributed(cfg.train.device)
    finished = False
    try:
        summary = _train(
            cfg, resume, info, log if info.is_main else (lambda _m: None), resume_override
        )
        finished = True
        return summary
    finally:
        shutdown_distributed(abandon=not finished)


def _screen(ds, what: str, cfg: ExperimentConfig, log, missing_ok: bool = False) -> None:
    """Leave out (or raise on) the bad samples of a dataset, in place (``missing_ok``: the
    training split, whose targets leave NaN points out; a scored split needs every point)."""
    from otmark.datasets.validity import screen_samples

    ds.samples = screen_samples(
        ds.samples, what, cfg.data.on_error, cfg.data.max_bad_fraction, log, missing_ok=missing_ok
    ).samples


def _train(
    cfg: ExperimentConfig, resume: bool, info: DistInfo, log, resume_override: bool = False
) -> dict:
    from otmark.schemes import get_scheme

    problems = value_problems(cfg)
    if problems:
        raise ConfigError(f"config {cfg.name!r}: {problems[0]}")
    _validate_schedule(cfg, f"config {cfg.name!r}")
    device = info.device
    amp_dtype = amp_dtype_for(cfg.train.amp, device)
    seed_everything(cfg.train.seed, cfg.train.deterministic, cfg.train.threads)
    out = cfg.output_path
    last_path, best_path = out / "last.pt", out / "best.pt"
    ckpt, overrides = None, []
    if resume:
        if not last_path.is_file():
            raise FileNotFoundError(f"{last_path}: nothing to resume (no checkpoint in {out})")
        ckpt = read_training_checkpoint(last_path)
        overrides = check_resume(last_path, ckpt.get("config", {}), cfg, resume_override)

    train_ds, val_ds = builders.build_datasets(cfg)
    _screen(train_ds, f"training split {cfg.data.train_split!r}", cfg, log, missing_ok=True)
    if val_ds is not None:
        _screen(val_ds, f"validation split {cfg.data.val_split!r}", cfg, log)
    scheme = builders.scheme_of(train_ds.samples)
    if ckpt is not None and ckpt.get("scheme") not in (None, scheme):
        raise ResumeRefused(
            f"{last_path}: cannot resume, the checkpoint's landmark scheme is "
            f"{ckpt['scheme']!r} but the data's is {scheme!r}"
        )
    num_landmarks = get_scheme(scheme).num_points
    model = builders.build_model(cfg, num_landmarks).to(device)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = builders.build_loss(cfg)
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn = loss_fn.to(device)
    optimizer = builders.build_optimizer(cfg, model)
    scheduler = builders.build_scheduler(cfg, optimizer)
    scaler = make_grad_scaler(amp_dtype, device)
    local_bs = builders.local_batch_size(cfg.optim.batch_size, info.world)

    start_epoch, history, best, partial = 0, [], math.inf, None
    if ckpt is not None:
        restore_checkpoint(ckpt, last_path, model, optimizer, scheduler, scaler, restore_rng=True)
        if any(c.key.startswith("optim.") for c in overrides):
            apply_optim_settings(cfg, optimizer, scheduler)
        start_epoch = int(ckpt["epoch"])
        partial = _partial_of(ckpt, local_bs, info.world)
        history = _resumed_history(ckpt.get("history", []), start_epoch, scheduler)
        best = ckpt.get("best_nme") if ckpt.get("best_nme") is not None else math.inf
        step = int(ckpt.get("step", 0)) if partial else 0
        log(f"resuming {last_path} at epoch {start_epoch + 1}, step {step}")
        for change in overrides:
            log(f"resume override: {change} (--resume-override)")

    n_params = sum(p.numel() for p in model.parameters())
    log(
        f"{cfg.name}: {len(train_ds)} training / {len(val_ds) if val_ds else 0} validation faces "
        f"({scheme}, {num_landmarks} landmarks); {cfg.model.name} {n_params / 1e6:.2f} M "
        f"parameters; {device} x {info.world} process(es); amp {amp_dtype or 'off'}; -> {out}"
    )
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "config.yaml", dump_config(cfg))
    runlog = RunLog(out, history, tensorboard=cfg.train.tensorboard) if info.is_main else None
    if runlog is not None and overrides:
        runlog.event(
            {
                "event": "resume_override",
                "epoch": start_epoch,
                "changes": {c.key: {"old": c.old, "new": c.new} for c in overrides},
            }
        )

    net = model
    if info.distributed:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    workers = cfg.data.num_workers
    pin = device.type == "cuda"
    sampler = EpochSampler(len(train_ds), cfg.train.seed, info.rank, info.world)
    loader = builders.build_loader(train_ds, sampler, local_bs, workers, cfg.train.seed, pin)
    val_loader = None
    if val_ds is not None:
        vs = EpochSampler(len(val_ds), 0, info.rank, info.world, shuffle=False)
        val_loader = builders.build_loader(val_ds, vs, local_bs, workers, 0, pin)

    per_step = cfg.optim.per_step
    # mutable run state shared with the hooks: the best validation NME, whether best.pt was
    # written, and the current epoch with its mid-epoch checkpoint writer
    state = {"best": best, "best_written": best_path.is_file() and resume}
    current: dict = {"epoch": start_epoch, "snapshot": None}
    run: StepRun | None = None
    if per_step:

        def validate_now() -> float:
            metrics = _validate(cfg, net, val_loader, device, amp_dtype, info)
            net.train()
            return all_reduce_sum([metrics["NME"] if metrics else 0.0], info)[0]

        def on_validation(row: dict) -> None:
            _checkpoint_at_validation(cfg, row, current, runlog, state)
            nme = "-" if row["val_nme"] is None else f"{row['val_nme']:.3f}%"
            phase = run.rule.phase(row["step"]) if run is not None and run.rule else ""
            log(f"step {row['step']}: val NME {nme}  lr {row['lr']:.3g}  ({phase})")
            barrier(info)

        run = StepRun(
            scheduler,
            cfg.optim.steps,
            validate_now if val_loader is not None else None,
            on_validation,
        )
        loss_fn = run.wrap_loss(loss_fn)

    ckpt_common = dict(
        model_name=cfg.model.name,
        model_kwargs=builders.model_kwargs(cfg, num_landmarks),
        scheme=scheme,
        codec=cfg.codec.to_dict(),
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
        config=cfg.to_dict(),
    )
    epochs = cfg.optim.epochs
    shown_epochs: int | str = "?" if per_step else epochs
    every = cfg.train.checkpoint_every
    last_metrics: dict | None = None
    with stop_on_signals() as received:
        epoch = start_epoch - 1
        while True:
            epoch += 1
            if run.done if run is not None else epoch >= epochs:
                break
            p = partial if epoch == start_epoch and partial else {}
            pos0, images0, secs0 = p.get("position", 0), p.get("images", 0), p.get("seconds", 0.0)
            res = EpochResult(
                loss_sum=p.get("loss_sum", 0.0), images=images0, steps=p.get("step", 0)
            )
            sampler.set_epoch(epoch, start=pos0)
            train_ds.set_epoch(epoch)

            def snapshot(
                reason: str,
                path: Path = last_path,
                metrics: dict | None = None,
                epoch=epoch,
                res=res,
                pos0=pos0,
                images0=images0,
                secs0=secs0,
            ):
                """Write a mid-epoch checkpoint (``last.pt`` unless ``path``) at ``res``."""
                return save_checkpoint(
                    path,
                    model=model,
                    epoch=epoch,
                    step=res.steps,
                    history=runlog.rows,
                    best_nme=_finite(state["best"]),
                    metrics=metrics,
                    reason=reason,
                    partial={
                        "position": pos0 + res.images - images0,
                        "loss_sum": res.loss_sum,
                        "images": res.images,
                        "seconds": secs0 + res.seconds,
                    },
                    **ckpt_common,
                )

            current.update(epoch=epoch, snapshot=snapshot)

            def periodic(r: EpochResult, snapshot=snapshot) -> None:
                if every > 0 and info.is_main and r.steps % every == 0:
                    snapshot("periodic")

            signalled = False
            try:
                train_one_epoch(
                    net,
                    loader,
                    loss_fn,
                    optimizer,
                    device,
                    amp_dtype=amp_dtype,
                    scaler=scaler,
                    channels_last=cfg.train.channels_last,
                    scheduler=scheduler if per_step else None,
                    should_stop=lambda: _should_stop(run, received),
                    info=info,
                    progress=cfg.train.progress,
                    desc=f"epoch {epoch + 1}/{shown_epochs}",
                    result=res,
                    on_step=periodic,
                )
                # a per-step run also ends its epoch early when the schedule is done
                signalled = res.interrupted and bool(received)
                if not signalled:
                    finished = run.done if run is not None else epoch + 1 == epochs
                    t_val = time.perf_counter()
                    row, metrics = _finish_epoch(
                        cfg,
                        epoch,
                        finished,
                        run is not None and run.rule is not None,
                        res,
                        secs0,
                        optimizer,
                        net,
                        val_loader,
                        device,
                        amp_dtype,
                        info,
                    )
                    if per_step:  # the next step's interval includes this validation
                        row["steps"] = scheduler.steps
                        scheduler.add_validation_seconds(time.perf_counter() - t_val)
            except Exception as exc:
                if info.is_main:
                    _save_after_error(snapshot, exc, last_path, epoch, res.steps, log)
                raise
            if signalled:
                if info.is_main:
                    snapshot("signal")
                barrier(info)
                raise TrainingInterrupted(received[0] if received else signal.SIGTERM, last_path)
            if not per_step:
                with warnings.catch_warnings():  # resumed after the epoch's last step
                    warnings.filterwarnings(
                        "ignore", "Detected call of `lr_scheduler.step", UserWarning
                    )
                    scheduler.step()
            if metrics is not None:
                last_metrics = metrics
            if info.is_main:
                runlog.append(row)
                log(_format_row(row, shown_epochs))
                improved = "val_NME" in row and row["val_NME"] < state["best"]
                if improved:
                    state["best"] = row["val_NME"]
                common = dict(
                    model=model,
                    epoch=epoch + 1,
                    step=0,
                    history=runlog.rows,
                    best_nme=_finite(state["best"]),
                    metrics=last_metrics or {},
                    **ckpt_common,
                )
                save_checkpoint(last_path, **common)
                if improved:
                    save_checkpoint(best_path, **common)
                    state["best_written"] = True
            barrier(info)
            if received:
                raise TrainingInterrupted(received[0], last_path)
    if runlog is not None:
        runlog.close()
    summary = {
        "epochs": epoch if per_step else epochs,
        "best_nme": _finite(state["best"]),
        "best_path": str(best_path) if state["best_written"] and best_path.is_file() else None,
        "last_metrics": last_metrics,
        "output_dir": str(out),
        "rank": info.rank,
    }
    if run is not None:
        summary.update(steps=run.steps, stopped_at_plateau=run.stopped_at_plateau)
    return summary


def _should_stop(run: StepRun | None, received: list) -> bool:
    """After every optimizer step: the run's validation and stop (on every process, even when
    a signal arrived: its validation is collective), or a signal."""
    done = run.after_step() if run is not None else False
    return done or bool(received)


def _resumed_history(rows: list[dict], start_epoch: int, scheduler) -> list[dict]:
    """The log rows of a checkpoint that precede the resumed position: epoch rows up to
    ``start_epoch``, validation rows (with ``step``) up to the schedule's restored step."""
    steps = getattr(scheduler, "steps", None)
    out = []
    for r in rows:
        if "step" in r and steps is not None:
            if r["step"] <= steps:
                out.append(r)
        elif r.get("epoch", 0) <= start_epoch:
            out.append(r)
    return out


def _checkpoint_at_validation(
    cfg: ExperimentConfig, row: dict, current: dict, runlog: RunLog | None, state: dict
) -> None:
    """A plateau run's validation (rank 0): log the row, write ``last.pt`` at this step (a
    mid-epoch checkpoint through the epoch's ``current["snapshot"]``, with the schedule's
    state), ``best.pt`` when better, ``steps/stepNNNNNN.pt`` with ``plateau.keep_checkpoints``.
    """
    if runlog is None:
        return
    out = cfg.output_path
    logged = {"epoch": current["epoch"] + 1, "step": row["step"], "lr": row["lr"]}
    logged.update(train_loss=row["train_loss"], val_NME=row["val_nme"])
    runlog.append(logged)
    val = row["val_nme"]
    improved = val is not None and val < state["best"]
    if improved:
        state["best"] = val
    snapshot = current["snapshot"]
    metrics = {"NME": val} if val is not None else {}
    snapshot("validation", metrics=metrics)
    if improved:
        snapshot("validation", path=out / "best.pt", metrics=metrics)
        state["best_written"] = True
    if cfg.optim.plateau.keep_checkpoints:
        snapshot("validation", path=out / "steps" / f"step{row['step']:06d}.pt", metrics=metrics)


def _validate(cfg: ExperimentConfig, net, val_loader, device, amp_dtype, info) -> dict | None:
    """Evaluate the unwrapped ``net`` on ``val_loader`` with the run's codec and precision
    settings; the metrics dict on rank 0, None on the other ranks."""
    return evaluate(
        unwrap(net),
        val_loader,
        device,
        codec=cfg.codec,
        amp_dtype=amp_dtype,
        channels_last=cfg.train.channels_last,
        info=info,
    )


def _finish_epoch(
    cfg, epoch, last, plateau_run, res, secs0, optimizer, net, val_loader, device, amp_dtype, info
) -> tuple[dict, dict | None]:
    """The epoch's log row (losses summed over processes) and its validation metrics (every
    ``train.val_every`` epochs and after the ``last`` one; never for a plateau run, which
    validates every ``optim.plateau.val_every`` steps instead)."""
    loss_sum, images, seconds = all_reduce_sum(
        [res.loss_sum, float(res.images), secs0 + res.seconds], info
    )
    row = {
        "epoch": epoch + 1,
        "lr": optimizer.param_groups[0]["lr"],
        "train_loss": loss_sum / max(images, 1),
        "images_per_s": images / max(seconds / info.world, 1e-9),
        "seconds": seconds / info.world,
    }
    metrics = None
    ve = cfg.train.val_every
    due = ve > 0 and (epoch + 1) % ve == 0
    if val_loader is not None and not plateau_run and (due or last):
        metrics = _validate(cfg, net, val_loader, device, amp_dtype, info)
        if metrics is not None:
            row.update({f"val_{k}": v for k, v in metrics.items()})
    return row, metrics


def _partial_of(ckpt: dict, local_bs: int, world: int) -> dict | None:
    """Where a mid-epoch checkpoint stopped: ``position`` (local samples consumed), ``step``,
    ``loss_sum``, ``images``, ``seconds``; None for an end-of-epoch checkpoint."""
    step = int(ckpt.get("step", 0))
    part = ckpt.get("partial")
    if part is None and step == 0:
        return None
    if part is None:  # written before ``partial`` existed: position from the old batch size
        old_bs = int(ckpt.get("config", {}).get("optim", {}).get("batch_size", local_bs * world))
        return {"position": step * (old_bs // world), "step": step}
    return {
        "position": int(part["position"]),
        "step": step,
        "loss_sum": float(part["loss_sum"]),
        "images": int(part["images"]),
        "seconds": float(part["seconds"]),
    }


def _save_after_error(snapshot, exc: BaseException, path: Path, epoch: int, step: int, log) -> None:
    """Write the mid-epoch checkpoint after ``exc``; a failure to write it is logged, and the
    original error is the one the caller re-raises."""
    try:
        snapshot("exception")
    except Exception as save_exc:  # e.g. the disk is full: last.pt keeps its previous state
        log(f"could not save {path} after the error: {save_exc}")
        return
    exc.otmark_checkpoint = path
    log(
        f"saved {path} (epoch {epoch + 1}, {step} steps done) after the error; fix it and "
        "continue with --resume"
    )


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)
