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
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from otmark.engine import builders
from otmark.engine.checkpoint import load_checkpoint, save_checkpoint, unwrap, write_text_atomic
from otmark.engine.config import ExperimentConfig, dump_config
from otmark.engine.distributed import (
    DistInfo,
    all_reduce_sum,
    barrier,
    init_distributed,
    shutdown_distributed,
)
from otmark.engine.logs import RunLog
from otmark.engine.loop import evaluate, train_one_epoch
from otmark.engine.precision import (  # noqa: F401 (amp_dtype_for, cpu_has_native_bf16: re-exported)
    amp_dtype_for,
    cpu_has_native_bf16,
    make_grad_scaler,
)
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
) -> dict:
    """Run (or resume) the experiment ``cfg``; returns a summary dict with ``epochs``,
    ``best_nme``, ``last_metrics`` (rank 0 only), ``output_dir`` and this process's ``rank``;
    with a per-step schedule (``optim.schedule`` not ``multistep``) also ``steps`` and
    ``stopped_at_plateau`` (None without the plateau rule).

    Per-step schedules: the :class:`~otmark.engine.schedule.ScheduledLR` is stepped after every
    optimizer step and the run stops when the schedule is done (:class:`StepRun`); a plateau
    run validates every ``optim.plateau.val_every`` steps, writes ``last.pt`` there (and
    ``steps/stepNNNNNN.pt`` with ``optim.plateau.keep_checkpoints``) and logs a row with
    ``step``; the schedule's state is in the checkpoints, so a resumed run continues it.

    Raises :class:`TrainingInterrupted` after SIGINT/SIGTERM (the state is in ``last.pt``).
    """
    info = init_distributed(cfg.train.device)
    try:
        return _train(cfg, resume, info, log if info.is_main else (lambda _m: None))
    finally:
        shutdown_distributed()


def _train(cfg: ExperimentConfig, resume: bool, info: DistInfo, log) -> dict:
    from otmark.schemes import get_scheme

    device = info.device
    amp_dtype = amp_dtype_for(cfg.train.amp, device)
    seed_everything(cfg.train.seed, cfg.train.deterministic, cfg.train.threads)
    out = cfg.output_path
    last_path, best_path = out / "last.pt", out / "best.pt"
    if resume and not last_path.is_file():
        raise FileNotFoundError(f"{last_path}: nothing to resume (no checkpoint in {out})")

    train_ds, val_ds = builders.build_datasets(cfg)
    scheme = builders.scheme_of(train_ds.samples)
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

    start_epoch, start_step, history, best = 0, 0, [], math.inf
    if resume:
        ckpt = load_checkpoint(last_path, model, optimizer, scheduler, scaler, restore_rng=True)
        start_epoch, start_step = int(ckpt["epoch"]), int(ckpt.get("step", 0))
        history = _resumed_history(ckpt.get("history", []), start_epoch, scheduler)
        best = ckpt.get("best_nme") if ckpt.get("best_nme") is not None else math.inf
        log(f"resuming {last_path} at epoch {start_epoch + 1}, step {start_step}")

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

    net = model
    if info.distributed:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    local_bs = builders.local_batch_size(cfg.optim.batch_size, info.world)
    workers = cfg.data.num_workers
    pin = device.type == "cuda"
    sampler = EpochSampler(len(train_ds), cfg.train.seed, info.rank, info.world)
    loader = builders.build_loader(train_ds, sampler, local_bs, workers, cfg.train.seed, pin)
    val_loader = None
    if val_ds is not None:
        vs = EpochSampler(len(val_ds), 0, info.rank, info.world, shuffle=False)
        val_loader = builders.build_loader(val_ds, vs, local_bs, workers, 0, pin)

    per_step = cfg.optim.per_step
    run: StepRun | None = None
    position = {"epoch": start_epoch, "step0": start_step, "global0": 0}
    best_box = [best]
    if per_step:

        def validate_now() -> float:
            metrics = evaluate(
                unwrap(net),
                val_loader,
                device,
                decoder=cfg.codec.decoder,
                softmax=cfg.codec.softmax,
                amp_dtype=amp_dtype,
                channels_last=cfg.train.channels_last,
                info=info,
            )
            net.train()
            return all_reduce_sum([metrics["NME"] if metrics else 0.0], info)[0]

        def on_validation(row: dict) -> None:
            _checkpoint_at_validation(cfg, row, position, runlog, best_box, model, ckpt_common)
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
    last_metrics: dict | None = None
    with stop_on_signals() as received:
        epoch = start_epoch - 1
        while True:
            epoch += 1
            if run.done if run is not None else epoch >= epochs:
                break
            step0 = start_step if epoch == start_epoch else 0
            position.update(epoch=epoch, step0=step0, global0=scheduler.steps if run else 0)
            sampler.set_epoch(epoch, start=step0 * local_bs)
            train_ds.set_epoch(epoch)
            res = train_one_epoch(
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
            )
            best = best_box[0]
            if res.interrupted and received:
                if info.is_main:
                    save_checkpoint(
                        last_path,
                        model=model,
                        epoch=epoch,
                        step=step0 + res.steps,
                        history=runlog.rows,
                        best_nme=_finite(best),
                        **ckpt_common,
                    )
                barrier(info)
                raise TrainingInterrupted(received[0] if received else signal.SIGTERM, last_path)
            loss_sum, images, seconds = all_reduce_sum(
                [res.loss_sum, float(res.images), res.seconds], info
            )
            row = {
                "epoch": epoch + 1,
                "lr": optimizer.param_groups[0]["lr"],
                "train_loss": loss_sum / max(images, 1),
                "images_per_s": images / max(seconds / info.world, 1e-9),
                "seconds": seconds / info.world,
            }
            if per_step:
                row["steps"] = scheduler.steps
            else:
                scheduler.step()
            ve = cfg.train.val_every
            last = run.done if run is not None else epoch + 1 == epochs
            plateau_run = run is not None and run.rule is not None
            t_val = time.perf_counter()
            if val_loader is not None and not plateau_run and ((epoch + 1) % ve == 0 or last):
                metrics = evaluate(
                    unwrap(net),
                    val_loader,
                    device,
                    decoder=cfg.codec.decoder,
                    softmax=cfg.codec.softmax,
                    amp_dtype=amp_dtype,
                    channels_last=cfg.train.channels_last,
                    info=info,
                )
                if metrics is not None:
                    last_metrics = metrics
                    row.update({f"val_{k}": v for k, v in metrics.items()})
            if per_step:  # the next step's interval includes this validation
                scheduler.add_validation_seconds(time.perf_counter() - t_val)
            if info.is_main:
                runlog.append(row)
                log(_format_row(row, shown_epochs))
                improved = "val_NME" in row and row["val_NME"] < best
                if improved:
                    best = best_box[0] = row["val_NME"]
                common = dict(
                    model=model,
                    epoch=epoch + 1,
                    step=0,
                    history=runlog.rows,
                    best_nme=_finite(best),
                    metrics=last_metrics or {},
                    **ckpt_common,
                )
                save_checkpoint(last_path, **common)
                if improved:
                    save_checkpoint(best_path, **common)
            barrier(info)
            if received:
                raise TrainingInterrupted(received[0], last_path)
    if runlog is not None:
        runlog.close()
    summary = {
        "epochs": epoch if per_step else epochs,
        "best_nme": _finite(best_box[0]),
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
    cfg: ExperimentConfig,
    row: dict,
    position: dict,
    runlog: RunLog | None,
    best_box: list,
    model: torch.nn.Module,
    ckpt_common: dict,
) -> None:
    """A plateau run's validation (rank 0): log the row, write ``last.pt`` at this step (and
    ``best.pt`` when better, ``steps/stepNNNNNN.pt`` with ``plateau.keep_checkpoints``)."""
    if runlog is None:
        return
    out = cfg.output_path
    logged = {"epoch": position["epoch"] + 1, "step": row["step"], "lr": row["lr"]}
    logged.update(train_loss=row["train_loss"], val_NME=row["val_nme"])
    runlog.append(logged)
    val = row["val_nme"]
    improved = val is not None and val < best_box[0]
    if improved:
        best_box[0] = val
    in_epoch = position["step0"] + row["step"] - position["global0"]
    common = dict(
        model=model,
        epoch=position["epoch"],
        step=in_epoch,
        history=runlog.rows,
        best_nme=_finite(best_box[0]),
        metrics={"NME": val} if val is not None else {},
        **ckpt_common,
    )
    save_checkpoint(out / "last.pt", **common)
    if improved:
        save_checkpoint(out / "best.pt", **common)
    if cfg.optim.plateau.keep_checkpoints:
        save_checkpoint(out / "steps" / f"step{row['step']:06d}.pt", **common)


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)
