"""Settings of the paper's ablations and the experiment config of one training run.

A *setting* is named like the packaged configs, ``<loss>_s<sigma>_<decoder>[_cc]`` (e.g.
``w_s3_bc``, :data:`otmark.study.summary.SETTING_PATTERN`); the setting of a run trained on
dataset ``300w`` is the packaged config ``300w_<setting>`` (``otmark train --config
300w_w_s3_bc``). A decoder-only variant without a packaged file (``l2_s1_bc``, ``js_s1_max``)
is the packaged config of the other decoder with ``codec.decoder`` changed: it trains the same
model. :func:`experiment_config` merges the study's engine-config overrides (sizes, schedule)
onto it and validates the result with the engine's config system (:mod:`otmark.engine.config`:
one loader, one validation, one set of error messages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_LOSS_LABEL = {"l2": "L2", "wasserstein": "W", "js": "JS", "soft_argmax": "Soft-ArgMax"}
_DECODER_LABEL = {"get_max": "GET_MAX", "get_bc": "GET_BC"}


@dataclass(frozen=True)
class Setting:
    """One row of the paper's ablation tables (read from a packaged config).

    Attributes:
        name: the setting name, e.g. ``w_s3_bc``.
        loss: ``otmark.losses`` name.
        sigma: target Gaussian sigma in heatmap pixels (``codec.sigma``).
        decoder: ``get_max`` or ``get_bc``.
        coordconv: CoordConv layers in the model.
    """

    name: str
    loss: str
    sigma: float
    decoder: str
    coordconv: bool = False

    @property
    def label(self) -> str:
        """The paper's name, e.g. ``W σ3 GET_BC + CoordConv``."""
        if self.loss == "soft_argmax":
            text = f"Soft-ArgMax {_DECODER_LABEL[self.decoder]}"
        else:
            loss = _LOSS_LABEL.get(self.loss, self.loss)
            text = f"{loss} σ{self.sigma:g} {_DECODER_LABEL[self.decoder]}"
        return text + (" + CoordConv" if self.coordconv else "")

    @property
    def training(self) -> tuple:
        """What the training depends on (the decoder only changes the evaluation)."""
        return (self.loss, self.sigma, self.coordconv)


#: the paper's recommended setting (quickstart)
RECOMMENDED = "w_s3_bc"


def setting_raw(dataset: str, name: str, where: str = "<study>") -> dict:
    """The raw (unvalidated) packaged config of setting ``name`` trained on ``dataset``.

    ``<dataset>_<name>`` when packaged; else a decoder-only variant of a packaged config (the
    same name with the other decoder) with ``codec.decoder`` replaced. Raises ``ValueError``
    naming ``where`` and the packaged settings.
    """
    from otmark.engine.config import list_configs, load_raw, resolve_config
    from otmark.study.summary import DECODER_NAMES, SETTING_PATTERN

    m = SETTING_PATTERN.match(name)
    if m is None:
        raise ValueError(
            f"{where}: setting {name!r} is not a packaged config's setting name "
            "<loss>_s<sigma>_<decoder>[_cc] (e.g. w_s3_bc)"
        )
    packaged = set(list_configs())
    if f"{dataset}_{name}" in packaged:
        return load_raw(resolve_config(f"{dataset}_{name}"))
    other = {"max": "bc", "bc": "max"}[m["decoder"]]
    twin = f"{m['loss']}_s{m['sigma']}_{other}{m['cc'] or ''}"
    if f"{dataset}_{twin}" in packaged:
        raw = load_raw(resolve_config(f"{dataset}_{twin}"))
        raw["codec"] = {**raw.get("codec", {}), "decoder": DECODER_NAMES[m["decoder"]]}
        return raw
    known = sorted(c.split("_", 1)[1] for c in packaged if c.startswith(f"{dataset}_"))
    raise ValueError(
        f"{where}: no packaged config {dataset}_{name} (nor {dataset}_{twin}); packaged "
        f"settings for {dataset}: {', '.join(known)}"
    )


def setting_of(dataset: str, name: str, where: str = "<study>") -> Setting:
    """The :class:`Setting` of ``name`` (read from its packaged config for ``dataset``)."""
    from otmark.engine.config import config_from_dict

    cfg = config_from_dict(setting_raw(dataset, name, where), f"{where}: {dataset}_{name}")
    return Setting(
        name, cfg.loss.name, float(cfg.codec.sigma), cfg.codec.decoder, cfg.model.coordconv
    )


def merge(base: dict, over: dict) -> dict:
    """``over`` merged onto ``base`` section by section (the engine's ``base:`` merge)."""
    from otmark.engine.config import _merge

    return _merge(base, over)


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
    from otmark.engine import config_from_dict, validate

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
