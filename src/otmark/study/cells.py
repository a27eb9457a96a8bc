"""Settings of the paper's ablations and the experiment config of one training run.

A *setting* (:mod:`otmark.settings`: the table of names, losses, sigmas, decoders, CoordConv
and labels) is named like the packaged configs, ``<loss>_s<sigma>_<decoder>[_cc]`` (e.g.
``w_s3_bc``); the setting of a run trained on dataset ``300w`` is the packaged config
``300w_<setting>`` (``otmark train --config 300w_w_s3_bc``). A decoder-only variant of a
packaged setting (``l2_s1_bc``, ``js_s1_max``) is the packaged config of the other decoder
with ``codec.decoder`` changed: it trains the same model. :func:`experiment_config` merges the
study's engine-config overrides (sizes, schedule) onto it and validates the result with the
engine's config system (:mod:`otmark.engine.config`: one loader, one validation, one set of
error messages).
"""

from __future__ import annotations

from typing import Any

from otmark.engine.config import (
    config_from_dict,
    list_configs,
    load_raw,
    resolve_config,
    validate,
)
from otmark.engine.config_files import merge as merge  # sections merged as by ``base:``
from otmark.settings import DECODERS, SETTING_GRAMMAR, parse, spell, trained_as
from otmark.settings import RECOMMENDED as RECOMMENDED
from otmark.settings import Setting as Setting


def _packaged_config(dataset: str, name: str, where: str) -> str:
    """The packaged config whose model setting ``name`` trains on ``dataset``:
    ``<dataset>_<name>``, or for a decoder-only variant the one with the other decoder
    (:func:`otmark.settings.trained_as`). Raises ``ValueError`` naming ``where`` and the
    packaged settings."""
    try:
        setting = parse(name)
    except ValueError:
        raise ValueError(
            f"{where}: setting {name!r} is not a packaged config's setting name {SETTING_GRAMMAR}"
        ) from None
    packaged = set(list_configs())
    trained = trained_as(name)
    if trained is not None and f"{dataset}_{trained.name}" in packaged:
        return f"{dataset}_{trained.name}"
    twins = [spell(setting.loss, setting.sigma, d, setting.coordconv) for d, _ in DECODERS.values()]
    nor = ", ".join(f"{dataset}_{t}" for t in twins if t != name)
    known = sorted(c.split("_", 1)[1] for c in packaged if c.startswith(f"{dataset}_"))
    raise ValueError(
        f"{where}: no packaged config {dataset}_{name} (nor {nor}); packaged settings for "
        f"{dataset}: {', '.join(known) or 'none'}"
    )


def setting_raw(dataset: str, name: str, where: str = "<study>") -> dict:
    """The raw (unvalidated) packaged config of setting ``name`` trained on ``dataset``.

    ``<dataset>_<name>`` when packaged; else a decoder-only variant of a packaged config (the
    same name with the other decoder) with ``codec.decoder`` replaced. Raises ``ValueError``
    naming ``where`` and the packaged settings.
    """
    config = _packaged_config(dataset, name, where)
    raw = load_raw(resolve_config(config))
    if config != f"{dataset}_{name}":
        raw["codec"] = {**raw.get("codec", {}), "decoder": parse(name).decoder}
    return raw


def setting_of(dataset: str, name: str, where: str = "<study>") -> Setting:
    """The :class:`Setting` of ``name`` (:func:`otmark.settings.parse`); raises ``ValueError``
    naming ``where`` when it has no packaged config for ``dataset`` (:func:`setting_raw`)."""
    _packaged_config(dataset, name, where)
    return parse(name)


def experiment_config(
    name: str,
    model: str,
    setting: str,
    overrides: dict,
    seed: int,
    dataset: str,
    root: str,
    device: str = "auto",
    output_dir: str = "runs/{name}",
    lr: float | None = None,
    where: str = "<study>",
):
    """The validated :class:`otmark.engine.ExperimentConfig` of one run: the packaged config
    of ``setting`` on ``dataset``, then ``overrides`` (an engine-config fragment: sizes,
    schedule), then the run's own values (name, model, seed, data root, device, ``lr``).

    Raises :class:`otmark.engine.ConfigError` naming ``where`` and the key.
    """
    raw = merge(setting_raw(dataset, setting, where), overrides)
    run: dict[str, Any] = {
        "name": name,
        "description": f"{model} {setting} seed {seed}",
        "data": {"dataset": dataset, "root": str(root)},
        "model": {"name": model},
        "train": {"seed": seed, "device": device, "output_dir": output_dir},
    }
    if lr is not None:
        run["optim"] = {"lr": float(lr)}
    raw = merge(raw, run)
    source = f"{where} ({dataset}_{setting})"
    cfg = config_from_dict(raw, source)
    validate(cfg, source, check_paths=False)
    return cfg
