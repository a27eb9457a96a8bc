"""Record (``python tests/engine/record_reference.py``) or check the reference runs of
``reference_runs.json``: tiny generated runs through every training entry point, with one
thread, so that a change to the engine that changes results shows.

Each run returns plain values: per-step losses (from the loss function), validation NMEs and
a digest of the final weights (sum, sum of squares and a few values, as float64).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).parent
REFERENCE = HERE / "reference_runs.json"


def weights_digest(model: torch.nn.Module) -> dict:
    flat = torch.cat(
        [
            v.detach().double().flatten().cpu()
            for v in model.state_dict().values()
            if v.is_floating_point()
        ]
    )
    return {
        "sum": float(flat.sum()),
        "sum_sq": float((flat * flat).sum()),
        "first": [float(x) for x in flat[:4]],
        "last": [float(x) for x in flat[-4:]],
    }


def study_samples(root: Path):
    """4 training and 2 validation faces of a generated 300W folder (the study's tests')."""
    from otmark.datasets import load
    from otmark.synth.writers import synthesize

    if not (root / "afw").exists():
        synthesize("300w", root, 8, seed=1, size=64)
    return list(load("300w", root, "train"))[:4], list(load("300w", root, "common"))[:2]


def study_config(root: Path, **optim):
    """The study's cell config for the tiny runs (as the study and the quickstart build it)."""
    from otmark.models import tiny_kwargs
    from otmark.study.cells import experiment_config

    overrides = {
        "codec": {"input_size": 64, "heatmap_size": 16},
        "model": {"kwargs": tiny_kwargs("hrnet_w18")},
        "optim": {"batch_size": 2, "lr": 2e-3, **optim},
        "train": {"amp": "none", "channels_last": False, "progress": False},
        "data": {"num_workers": 0},
    }
    return experiment_config(
        "t", "hrnet_w18", "l2_s1_bc", overrides, 0, "300w", str(root), device="cpu"
    )


STUDY_RUNS = {
    "study_steps": {"schedule": "warmup_cosine", "steps": 5, "warmup_steps": 2},
    "study_plateau": {
        "schedule": "constant_then_decay",
        "max_steps": 20,
        "plateau": {
            "enabled": True,
            "val_every": 1,
            "patience_steps": 1,
            "min_improvement": 0.99,
            "decay_steps": 1,
        },
    },
}

ENGINE_RUNS = {
    "engine_multistep": {},
    "engine_per_step": {
        "optim": {"schedule": "warmup_cosine", "steps": 3, "warmup_steps": 1, "epochs": 1}
    },
}


def study_outcome(trained) -> dict:
    return {
        "steps": trained.steps,
        "epochs": trained.epochs,
        "val_nme": trained.val_nme,
        "stopped_at_plateau": trained.stopped_at_plateau,
        "history": [
            {k: r[k] for k in ("step", "train_loss", "val_nme", "lr")} for r in trained.history
        ],
        "snapshot_steps": [s for s, _ in trained.snapshots],
        "weights": weights_digest(trained.model),
    }


def engine_outcome(summary: dict, out: Path) -> dict:
    from otmark.models import load_model_from_checkpoint

    model = load_model_from_checkpoint(out / "last.pt")[0]
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    keep = ("epoch", "step", "steps", "lr", "train_loss", "val_NME")
    return {
        "epochs": summary["epochs"],
        "best_nme": summary["best_nme"],
        "rows": [{k: r[k] for k in keep if k in r} for r in rows if "event" not in r],
        "weights": weights_digest(model),
    }


def run_engine(name: str, data_root: Path, out: Path, train) -> dict:
    sys.path.insert(0, str(HERE))
    from engine_data import tiny_config

    from otmark.engine import config_from_dict

    raw = tiny_config(data_root, out, **ENGINE_RUNS[name])
    summary = train(config_from_dict(raw), log=lambda m: None)
    return engine_outcome(summary, out)


def run_pretrain(data_root: Path, out: Path, train) -> dict:
    """The packaged pretraining recipe with ``otmark pretrain --tiny``'s settings, on the
    engine tests' data (amp off: the same on every CPU)."""
    from otmark.cli.pretrain import default_config, tiny_overrides
    from otmark.engine import load_config

    overrides = [
        f"data.root={data_root}",
        f"train.output_dir={out}",
        "data.val_split=challenge",
        *tiny_overrides(),
        "train.amp=none",
    ]
    summary = train(load_config(default_config(), overrides), log=lambda m: None)
    return engine_outcome(summary, out)


def run_study(name: str, root: Path, train_model) -> dict:
    train, val = study_samples(root)
    cfg = study_config(root, **STUDY_RUNS[name])
    trained = train_model(cfg, train, val, log=lambda m: None, keep_every=1)
    return study_outcome(trained)


def record(tmp: Path) -> dict:
    sys.path.insert(0, str(HERE))
    from engine_data import write_tiny_300w

    from otmark.engine import train
    from otmark.study.training import train_model

    torch.set_num_threads(1)
    data = write_tiny_300w(tmp / "300W")
    runs = {n: run_engine(n, data, tmp / n, train) for n in ENGINE_RUNS}
    runs["pretrain_tiny"] = run_pretrain(data, tmp / "pretrain", train)
    runs.update({n: run_study(n, tmp / "w300", train_model) for n in STUDY_RUNS})
    return runs


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        runs = record(Path(d))
    REFERENCE.write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(runs, indent=1)[:3000])
