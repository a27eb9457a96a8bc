"""The paper's ablation settings (loss x sigma x decoder x CoordConv), as one table.

A *setting* is named ``<loss>_s<sigma>_<decoder>[_cc]`` (:data:`SETTING_PATTERN`), e.g.
``w_s3_bc`` = Wasserstein loss, target sigma 3 heatmap pixels, GET_BC decoder, no CoordConv;
the tokens are those of :data:`LOSSES` and :data:`DECODERS`. The name spells the whole setting:
:func:`parse` reads any such name, :func:`spell` writes one.

:data:`PACKAGED` are the settings shipped as configs: each with each packaged dataset base is
the packaged config ``<dataset>_<setting>`` (``otmark train --config 300w_w_s3_bc``; composed by
:mod:`otmark.engine.config` from ``_<dataset>.yaml`` and :meth:`Setting.config`). The study
(:mod:`otmark.study`), its results schema (:mod:`otmark.study.summary`) and its report take
their names, labels and what a training depends on from here.

This module imports nothing of otmark: every layer may use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Loss:
    """One loss of the settings.

    Attributes:
        token: its spelling in setting names (``w``).
        name: the :mod:`otmark.losses` name (``wasserstein``).
        label: its name in the report (``W``).
        text: its name in a packaged config's description (``Wasserstein loss``).
        kwargs: ``loss.kwargs`` of its packaged configs.
        sigma_in_label: whether the report label shows sigma (not for Soft-ArgMax, which
            regresses coordinates: its sigma is no target's width).
    """

    token: str
    name: str
    label: str
    text: str
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    sigma_in_label: bool = True


#: the losses, by setting-name token
LOSSES: Mapping[str, Loss] = MappingProxyType(
    {
        loss.token: loss
        for loss in (
            Loss("l2", "l2", "L2", "heatmap L2"),
            # move only the mass where map and target differ
            Loss(
                "w",
                "wasserstein",
                "W",
                "Wasserstein loss",
                MappingProxyType({"form": "difference"}),
            ),
            Loss("js", "js", "JS", "Jensen-Shannon loss"),
            Loss(
                "softargmax",
                "soft_argmax",
                "Soft-ArgMax",
                "Soft-ArgMax (integral regression)",
                sigma_in_label=False,
            ),
        )
    }
)
#: the decoders, by setting-name token -> (``codec.decoder``, label)
DECODERS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {"max": ("get_max", "GET_MAX"), "bc": ("get_bc", "GET_BC")}
)

#: ``<loss>_s<sigma>_<decoder>[_cc]`` with the tokens of :data:`LOSSES` and :data:`DECODERS`
SETTING_PATTERN = re.compile(
    rf"^(?P<loss>{'|'.join(LOSSES)})_s(?P<sigma>[0-9]+(?:\.[0-9]+)?)"
    rf"_(?P<decoder>{'|'.join(DECODERS)})(?P<cc>_cc)?$"
)
#: what :data:`SETTING_PATTERN` allows, in words (error messages)
SETTING_GRAMMAR = (
    f"<loss>_s<sigma>_<decoder>[_cc] with loss {', '.join(LOSSES)} and decoder "
    f"{' or '.join(DECODERS)} (e.g. l2_s1_max, w_s3_bc, w_s3_bc_cc)"
)


@dataclass(frozen=True)
class Setting:
    """One row of the paper's ablation tables.

    Attributes:
        name: the setting name, e.g. ``w_s3_bc``.
        loss: ``otmark.losses`` name.
        sigma: target Gaussian sigma in heatmap pixels (``codec.sigma``).
        decoder: ``codec.decoder`` (``get_max`` or ``get_bc``).
        coordconv: CoordConv layers in the model.
        role, note: what the packaged config's description says before and after the
            setting (``the paper's method``; ``Table 7``); not part of the setting's identity.
    """

    name: str
    loss: str
    sigma: float
    decoder: str
    coordconv: bool = False
    role: str = field(default="", compare=False)
    note: str = field(default="", compare=False)

    @property
    def _loss(self) -> Loss:
        """The row of :data:`LOSSES` (a loss outside it is spelled by its name)."""
        found = next((v for v in LOSSES.values() if v.name == self.loss), None)
        return found or Loss("", self.loss, self.loss, self.loss)

    @property
    def _decoder_label(self) -> str:
        labels = dict(DECODERS.values())
        return labels.get(self.decoder, self.decoder.upper())

    @property
    def label(self) -> str:
        """The paper's name, e.g. ``W σ3 GET_BC + CoordConv`` (``Soft-ArgMax GET_BC``)."""
        loss = self._loss
        sigma = f" σ{self.sigma:g}" if loss.sigma_in_label else ""
        cc = " + CoordConv" if self.coordconv else ""
        return f"{loss.label}{sigma} {self._decoder_label}{cc}"

    @property
    def description(self) -> str:
        """The packaged config's description (after its dataset), e.g. ``the paper's method:
        Wasserstein loss, sigma 3, GET_BC``."""
        text = f"{self._loss.text}, sigma {self.sigma:g}, {self._decoder_label}"
        text += ", CoordConv" if self.coordconv else ""
        text = f"{self.role}: {text}" if self.role else text
        return f"{text} ({self.note})" if self.note else text

    @property
    def training(self) -> tuple:
        """What the training depends on (the decoder only changes the evaluation)."""
        return (self.loss, self.sigma, self.coordconv)

    def config(self) -> dict[str, Any]:
        """The setting as an experiment-config fragment (what it sets on a dataset base)."""
        loss: dict[str, Any] = {"name": self.loss}
        if self._loss.kwargs:
            loss["kwargs"] = dict(self._loss.kwargs)
        return {
            "description": self.description,
            "model": {"coordconv": self.coordconv},
            "codec": {"sigma": float(self.sigma), "decoder": self.decoder},
            "loss": loss,
        }


# name, role, note: loss, sigma, decoder and CoordConv are spelled by the name
_PACKAGED_ROWS = (
    ("l2_s1_max", "vanilla baseline", ""),
    ("l2_s3_max", "ablation", ""),
    ("w_s1_bc", "ablation", ""),
    ("w_s3_bc", "the paper's method", ""),
    ("w_s1_bc_cc", "", ""),
    ("w_s3_bc_cc", "", ""),
    ("js_s1_bc", "", "the paper's Table 7"),
    ("js_s3_bc", "", "the paper's Table 7"),
    ("softargmax_s1_bc", "", "Table 7"),
)

#: the paper's recommended setting (quickstart)
RECOMMENDED = "w_s3_bc"


def _parse(name: str) -> Setting:
    m = SETTING_PATTERN.match(name) if isinstance(name, str) else None
    if m is None:
        raise ValueError(f"setting {name!r} is not {SETTING_GRAMMAR}")
    return Setting(
        name,
        LOSSES[m["loss"]].name,
        float(m["sigma"]),
        DECODERS[m["decoder"]][0],
        m["cc"] is not None,
    )


#: the packaged settings, by name
PACKAGED: Mapping[str, Setting] = MappingProxyType(
    {
        name: Setting(**{**_parse(name).__dict__, "role": role, "note": note})
        for name, role, note in _PACKAGED_ROWS
    }
)


def parse(name: str) -> Setting:
    """The setting a name spells (the packaged row, with its description, when packaged).

    Raises:
        ValueError: ``name`` is not of :data:`SETTING_PATTERN`.
    """
    return PACKAGED.get(name) or _parse(name)


def spell(loss: str, sigma: float, decoder: str, coordconv: bool = False) -> str:
    """The name of a setting (``spell("wasserstein", 3, "get_bc") == "w_s3_bc"``).

    Raises:
        ValueError: a loss or decoder without a token.
    """
    loss_token = next((t for t, v in LOSSES.items() if v.name == loss), None)
    dec_token = next((t for t, (d, _) in DECODERS.items() if d == decoder), None)
    if loss_token is None or dec_token is None:
        raise ValueError(
            f"no setting name for loss {loss!r} with decoder {decoder!r}: losses "
            f"{', '.join(v.name for v in LOSSES.values())}; decoders "
            f"{', '.join(d for d, _ in DECODERS.values())}"
        )
    return f"{loss_token}_s{sigma:g}_{dec_token}{'_cc' if coordconv else ''}"


def trained_as(name: str) -> Setting | None:
    """The packaged setting whose model setting ``name`` trains: itself when packaged, else,
    for a decoder-only variant (``l2_s1_bc``), the packaged setting with the other decoder
    (``l2_s1_max``); None when neither is packaged.

    Raises:
        ValueError: ``name`` is not of :data:`SETTING_PATTERN`.
    """
    s = parse(name)
    if name in PACKAGED:
        return PACKAGED[name]
    for decoder, _ in DECODERS.values():
        twin = spell(s.loss, s.sigma, decoder, s.coordconv)
        if twin in PACKAGED:
            return PACKAGED[twin]
    return None


def label_of(name: str) -> str:
    """The report label of setting ``name``; the name itself when it is no setting name (a
    stored result of another version)."""
    try:
        return parse(name).label
    except ValueError:
        return name
