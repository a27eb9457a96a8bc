"""Every packaged config name resolves to the config it resolved to when the configs were
written out file by file: ``config_resolution.json`` holds, one per line, the resolved config
(``ExperimentConfig.to_dict()``) of each packaged name, of the packaged model's recipe and of
the paper study's first cell of each experiment and setting (cpu profile) and its
learning-rate runs, as the loader produced them before configs were composed from a dataset
base and a setting.

Only the values recorded there are compared: a config field added later (with its default)
does not fail this test, a recorded value that changes does.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from otmark.engine.config import list_configs, load_config, packaged_config_dir
from otmark.study.config import load_study_config, lr_select_config

FIXTURE = json.loads((Path(__file__).parent / "config_resolution.json").read_text("utf-8"))


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (a ``kwargs`` mapping is one value)."""
    if not isinstance(d, dict) or prefix.endswith("kwargs"):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else k))
    return out


def _differences(recorded: dict, now: dict) -> list[str]:
    """The recorded values that ``now`` lacks or has otherwise (JSON-normalised)."""
    now_flat = _flat(json.loads(json.dumps(now)))
    return [
        f"{key}: recorded {value!r}, now {now_flat.get(key, '<missing>')!r}"
        for key, value in _flat(recorded).items()
        if key not in now_flat or now_flat[key] != value
    ]


def test_the_comparison_sees_a_changed_a_missing_and_a_kwargs_value():
    rec = {"codec": {"sigma": 3.0}, "loss": {"kwargs": {"form": "difference"}}, "x": 1}
    assert _differences(rec, {**rec, "new": 5}) == []
    now = {"codec": {"sigma": 1.0}, "loss": {"kwargs": {"form": "difference", "p": 2}}}
    assert _differences(rec, now) == [
        "codec.sigma: recorded 3.0, now 1.0",
        "loss.kwargs: recorded {'form': 'difference'}, now {'form': 'difference', 'p': 2}",
        "x: recorded 1, now '<missing>'",
    ]


PACKAGED = sorted(k.split("/", 1)[1] for k in FIXTURE if k.startswith("packaged/"))


def test_the_packaged_names_are_the_recorded_ones():
    assert len(PACKAGED) == 45
    assert list_configs() == PACKAGED


@pytest.mark.parametrize("name", PACKAGED)
def test_each_packaged_name_resolves_as_recorded(name):
    cfg = load_config(name, check_paths=False)
    assert _differences(FIXTURE[f"packaged/{name}"], cfg.to_dict()) == []


def test_the_packaged_model_recipe_resolves_as_recorded():
    keys = [k for k in FIXTURE if k.startswith("pretrained/")]
    assert keys
    for key in keys:
        path = packaged_config_dir() / "pretrained" / f"{key.split('/', 1)[1]}.yaml"
        assert _differences(FIXTURE[key], load_config(path, check_paths=False).to_dict()) == []


def test_the_study_cells_resolve_as_recorded():
    study = load_study_config("paper", device="cpu")
    cells = {c.id: c for c in study.cells()}
    keys = [k for k in FIXTURE if k.startswith("study/paper/")]
    assert len(keys) > 10
    for key in keys:
        name = key.split("/", 2)[2]
        if name.startswith("lr__"):
            cfg = lr_select_config(study, name[4:], "<root>", None)
        else:
            cfg = study.cell_config(cells[name])
        assert _differences(FIXTURE[key], cfg.to_dict()) == [], key
