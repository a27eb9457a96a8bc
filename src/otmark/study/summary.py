"""``summary.json``: the study's machine-readable results, beside its report.

Schema (NME in percent)::

    {"mean_shape": {"<protocol>": 16.3, ...},
     "cells": [{"setting": "l2_s1_max", "seed": 0, "lr": 0.001,
                "lr_candidates": [0.0005, 0.001, 0.003], "steps": 1800,
                "stopped_at_plateau": true, "nme": {"<protocol>": 4.1, ...},
                "history": [{"step": 100, "train_loss": 0.0012, "val_nme": 9.7}, ...]}],
     "claims": [{"claim": "w-vs-vanilla-occlusion", "protocol": "occlusion-large",
                 "difference": -3.26, "ci": [-6.1, -0.9], "resampling": "seeds+images",
                 "seeds": [0, 1, 2], "seed_signs": [-1, -1, -1], "verdict": "holds"}]}

* ``mean_shape``: protocol -> NME of the mean-shape baseline on that protocol.
* ``cells``: one per trained and scored setting and seed. ``setting`` is a packaged config's
  setting name, ``<loss>_s<sigma>_<decoder>[_cc]`` (:mod:`otmark.settings`: loss ``l2``,
  ``w``, ``js`` or ``softargmax``; decoder ``max`` or ``bc``; ``_cc`` = CoordConv), e.g.
  ``w_s3_bc``; ``lr`` is the rate used, one of ``lr_candidates`` (the rates tried on the
  validation split); ``steps`` the optimizer steps taken; ``stopped_at_plateau`` whether the
  run stopped at its validation plateau (False: at the step cap); ``nme`` protocol -> NME,
  every protocol also in ``mean_shape``.
* optional per cell: ``history`` (validation rows ``step``, ``train_loss``, ``val_nme``, steps
  increasing, null for a value not measured or not finite), ``lr_curve`` (``{rate: validation
  NME}`` of the learning-rate stage that chose ``lr``: one entry per rate of
  ``lr_candidates``, the rate written as ``%g``, null for a diverged run), and
  ``experiment``, ``model``, ``scheme`` (strings) to tell apart cells of one setting and seed
  in different blocks of the study (another model, another landmark scheme);
  ``(experiment, setting, scheme, seed)`` is unique.
* optional ``claims``: one entry per claim of :data:`otmark.study.claims.CLAIMS` and protocol
  (:func:`otmark.study.claims.claim_entries`): ``difference`` the mean contrast (negative: the
  claim's direction), ``ci`` its 95 % bootstrap interval ``[lo, hi]`` (``lo <= difference <=
  hi`` is not required: a percentile interval need not contain the estimate), ``resampling``
  ``seeds+images`` or ``seeds+videos`` (what the bootstrap drew), ``seeds`` the seeds and
  ``seed_signs`` the sign (-1, 0, 1) of the contrast in each, ``verdict`` ``holds`` (interval
  below 0, every sign -1), ``contradicted`` (interval above 0, every sign +1) or ``not
  shown``; ``(claim, protocol)`` is unique.

:func:`write_summary` validates, then writes atomically; :func:`read_summary` reads and
validates; errors (:class:`SummaryError`) name the file and the field, e.g.
``results/summary.json: cells[3].nme['300w-test']: must be a finite number >= 0, got nan``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from otmark import settings
from otmark.atomic import write_json_atomic

#: ``<loss>_s<sigma>_<decoder>[_cc]``, the setting part of the packaged config names
#: (:data:`otmark.settings.SETTING_PATTERN`)
SETTING_PATTERN = settings.SETTING_PATTERN
#: setting-name loss token -> ``otmark.losses`` name
LOSS_NAMES = {token: loss.name for token, loss in settings.LOSSES.items()}
#: setting-name decoder token -> ``codec.decoder``
DECODER_NAMES = {token: decoder for token, (decoder, _) in settings.DECODERS.items()}

_TOP_KEYS = {"mean_shape", "cells"}
_TOP_OPTIONAL = {"claims"}
_CLAIM_KEYS = {
    "claim",
    "protocol",
    "difference",
    "ci",
    "resampling",
    "seeds",
    "seed_signs",
    "verdict",
}
_RESAMPLING = ("seeds+images", "seeds+videos")
_VERDICTS = ("holds", "contradicted", "not shown")
_CELL_REQUIRED = {"setting", "seed", "lr", "lr_candidates", "steps", "stopped_at_plateau", "nme"}
_CELL_OPTIONAL = {"history", "experiment", "model", "scheme", "lr_curve"}
_HISTORY_KEYS = {"step", "train_loss", "val_nme"}


class SummaryError(ValueError):
    """An invalid ``summary.json``: the message names the file and the field."""


def parse_setting_name(name: str) -> dict[str, Any]:
    """``w_s3_bc_cc`` -> ``{"loss": "wasserstein", "sigma": 3.0, "decoder": "get_bc",
    "coordconv": True}``; raises ``ValueError`` for a name outside :data:`SETTING_PATTERN`
    (:func:`otmark.settings.parse`)."""
    s = settings.parse(name)
    return {"loss": s.loss, "sigma": s.sigma, "decoder": s.decoder, "coordconv": s.coordconv}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _nme_table(value: Any, where: str) -> None:
    if not isinstance(value, dict) or not value:
        raise SummaryError(f"{where}: must be a non-empty mapping protocol -> NME, got {value!r}")
    for protocol, v in value.items():
        if not protocol:
            raise SummaryError(f"{where}: empty protocol name")
        if not (_is_number(v) and math.isfinite(v) and v >= 0):
            raise SummaryError(f"{where}[{protocol!r}]: must be a finite number >= 0, got {v!r}")


def _cell(cell: Any, where: str, protocols: set[str]) -> tuple:
    if not isinstance(cell, dict):
        raise SummaryError(f"{where}: must be a mapping, got {type(cell).__name__}")
    missing = sorted(_CELL_REQUIRED - set(cell))
    if missing:
        raise SummaryError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(cell) - _CELL_REQUIRED - _CELL_OPTIONAL)
    if unknown:
        raise SummaryError(f"{where}: unknown field(s) {', '.join(unknown)}")
    try:
        parse_setting_name(cell["setting"])
    except ValueError as e:
        raise SummaryError(f"{where}.setting: {e}") from None
    seed = cell["seed"]
    if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
        raise SummaryError(f"{where}.seed: must be an integer >= 0, got {seed!r}")
    cands = cell["lr_candidates"]
    if not (isinstance(cands, list) and cands):
        raise SummaryError(f"{where}.lr_candidates: must be a non-empty list, got {cands!r}")
    for j, c in enumerate(cands):
        if not (_is_number(c) and math.isfinite(c) and c > 0):
            raise SummaryError(f"{where}.lr_candidates[{j}]: must be a number > 0, got {c!r}")
    lr = cell["lr"]
    if not (_is_number(lr) and math.isfinite(lr) and lr > 0):
        raise SummaryError(f"{where}.lr: must be a number > 0, got {lr!r}")
    if lr not in cands:
        raise SummaryError(f"{where}.lr: {lr} is not one of lr_candidates {cands}")
    steps = cell["steps"]
    if not (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1):
        raise SummaryError(f"{where}.steps: must be an integer >= 1, got {steps!r}")
    if not isinstance(cell["stopped_at_plateau"], bool):
        raise SummaryError(
            f"{where}.stopped_at_plateau: must be true or false, got {cell['stopped_at_plateau']!r}"
        )
    _nme_table(cell["nme"], f"{where}.nme")
    extra = sorted(set(cell["nme"]) - protocols)
    if extra:
        raise SummaryError(f"{where}.nme: protocol(s) {', '.join(extra)} missing from mean_shape")
    for name in ("experiment", "model", "scheme"):
        if name in cell and not (isinstance(cell[name], str) and cell[name]):
            raise SummaryError(f"{where}.{name}: must be a non-empty string, got {cell[name]!r}")
    if "history" in cell:
        _history(cell["history"], f"{where}.history")
    if "lr_curve" in cell:
        _lr_curve(cell["lr_curve"], cands, f"{where}.lr_curve")
    return (cell.get("experiment"), cell["setting"], cell.get("scheme"), seed)


def _lr_curve(curve: Any, candidates: list, where: str) -> None:
    """``{rate: NME or null}`` with exactly the rates of ``candidates`` (as ``%g``)."""
    if not isinstance(curve, dict) or not curve:
        raise SummaryError(f"{where}: must be a non-empty mapping rate -> NME, got {curve!r}")
    rates = []
    for key, v in curve.items():
        try:
            rate = float(key)
        except (TypeError, ValueError):
            raise SummaryError(f"{where}: key {key!r} is not a learning rate") from None
        if not (math.isfinite(rate) and rate > 0):
            raise SummaryError(f"{where}: key {key!r} is not a learning rate > 0")
        if v is not None and not (_is_number(v) and math.isfinite(v) and v >= 0):
            raise SummaryError(f"{where}[{key!r}]: must be a finite number >= 0 or null, got {v!r}")
        rates.append(rate)
    want = sorted(float(f"{c:g}") for c in candidates)
    if sorted(rates) != want:
        raise SummaryError(f"{where}: rates {sorted(rates)} are not lr_candidates {want}")


def _history(rows: Any, where: str) -> None:
    if not isinstance(rows, list):
        raise SummaryError(f"{where}: must be a list, got {type(rows).__name__}")
    last = -1
    for j, row in enumerate(rows):
        at = f"{where}[{j}]"
        if not isinstance(row, dict) or set(row) != _HISTORY_KEYS:
            got = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise SummaryError(f"{at}: must have exactly step, train_loss, val_nme; got {got}")
        step = row["step"]
        if not (isinstance(step, int) and not isinstance(step, bool) and step > last):
            raise SummaryError(f"{at}.step: must be an integer > {last}, got {step!r}")
        last = step
        for name in ("train_loss", "val_nme"):
            v = row[name]
            if v is not None and not (_is_number(v) and math.isfinite(v)):
                raise SummaryError(f"{at}.{name}: must be a finite number or null, got {v!r}")


def validate_summary(data: Any, where: str | os.PathLike[str] = "summary.json") -> dict:
    """Check ``data`` against the schema (see the module docstring); returns it unchanged.

    Raises :class:`SummaryError` naming ``where`` and the first bad field.
    """
    if not isinstance(data, dict):
        raise SummaryError(f"{where}: must be a JSON object, got {type(data).__name__}")
    missing = sorted(_TOP_KEYS - set(data))
    if missing:
        raise SummaryError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(data) - _TOP_KEYS - _TOP_OPTIONAL)
    if unknown:
        raise SummaryError(f"{where}: unknown field(s) {', '.join(unknown)}")
    _nme_table(data["mean_shape"], f"{where}: mean_shape")
    cells = data["cells"]
    if not isinstance(cells, list):
        raise SummaryError(f"{where}: cells must be a list, got {type(cells).__name__}")
    protocols = set(data["mean_shape"])
    seen: dict[tuple, int] = {}
    for i, cell in enumerate(cells):
        ident = _cell(cell, f"{where}: cells[{i}]", protocols)
        if ident in seen:
            raise SummaryError(
                f"{where}: cells[{i}] repeats cells[{seen[ident]}] (experiment, setting, "
                f"scheme, seed = {ident})"
            )
        seen[ident] = i
    if "claims" in data:
        _claims(data["claims"], f"{where}: claims")
    return data


def _claims(entries: Any, where: str) -> None:
    if not isinstance(entries, list):
        raise SummaryError(f"{where}: must be a list, got {type(entries).__name__}")
    seen: dict[tuple, int] = {}
    for i, e in enumerate(entries):
        at = f"{where}[{i}]"
        _claim(e, at)
        ident = (e["claim"], e["protocol"])
        if ident in seen:
            raise SummaryError(f"{at} repeats {where}[{seen[ident]}] (claim, protocol = {ident})")
        seen[ident] = i


def _claim(e: Any, at: str) -> None:
    """One ``claims`` entry; its verdict must follow from its interval and seed signs."""
    if not isinstance(e, dict) or set(e) != _CLAIM_KEYS:
        got = sorted(e) if isinstance(e, dict) else type(e).__name__
        keys = ", ".join(sorted(_CLAIM_KEYS))
        raise SummaryError(f"{at}: must have exactly {keys}; got {got}")
    for name in ("claim", "protocol"):
        if not (isinstance(e[name], str) and e[name]):
            raise SummaryError(f"{at}.{name}: must be a non-empty string, got {e[name]!r}")
    if not (_is_number(e["difference"]) and math.isfinite(e["difference"])):
        raise SummaryError(f"{at}.difference: must be a finite number, got {e['difference']!r}")
    ci = e["ci"]
    if not (
        isinstance(ci, list)
        and len(ci) == 2
        and all(_is_number(v) and math.isfinite(v) for v in ci)
        and ci[0] <= ci[1]
    ):
        raise SummaryError(f"{at}.ci: must be [lo, hi], finite numbers, lo <= hi; got {ci!r}")
    if e["resampling"] not in _RESAMPLING:
        raise SummaryError(
            f"{at}.resampling: must be one of {', '.join(_RESAMPLING)}, got {e['resampling']!r}"
        )
    seeds, signs = e["seeds"], e["seed_signs"]
    if not (
        isinstance(seeds, list)
        and seeds
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
        and len(set(seeds)) == len(seeds)
    ):
        raise SummaryError(
            f"{at}.seeds: must be a non-empty list of distinct seeds, got {seeds!r}"
        )
    if not (
        isinstance(signs, list)
        and len(signs) == len(seeds)
        and all(s in (-1, 0, 1) and not isinstance(s, bool) for s in signs)
    ):
        raise SummaryError(
            f"{at}.seed_signs: must be -1, 0 or 1 for each of the {len(seeds)} seeds, "
            f"got {signs!r}"
        )
    verdict = e["verdict"]
    if verdict not in _VERDICTS:
        raise SummaryError(
            f"{at}.verdict: must be one of {', '.join(_VERDICTS)}, got {verdict!r}"
        )
    below = ci[1] < 0 and all(s < 0 for s in signs)
    above = ci[0] > 0 and all(s > 0 for s in signs)
    expected = "holds" if below else "contradicted" if above else "not shown"
    if verdict != expected:
        raise SummaryError(
            f"{at}.verdict: {verdict!r} does not follow from ci {ci} and seed_signs "
            f"{signs} (expected {expected!r})"
        )


def write_summary(path: str | os.PathLike[str], data: dict) -> Path:
    """Validate ``data`` and write it to ``path`` atomically (keys sorted)."""
    validate_summary(data, path)
    return write_json_atomic(path, data)


def read_summary(path: str | os.PathLike[str]) -> dict:
    """Read and validate ``path``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SummaryError(f"{p}: file not found") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SummaryError(f"{p}: not valid JSON ({e})") from None
    return validate_summary(data, p)
