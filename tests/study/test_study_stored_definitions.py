"""The stored converged study stays "done" under the packaged paper config: options added to
the engine later, while at their defaults, must not change a cell's definition (its key)."""

from pathlib import Path

from otmark.study.config import is_done, load_study_config

ROOT = Path(__file__).resolve().parents[2]


def test_every_stored_cell_of_the_converged_study_matches_its_definition(monkeypatch):
    monkeypatch.chdir(ROOT)
    study = load_study_config("paper")
    cells = study.cells()
    assert len(cells) == 38
    stale = [c.id for c in cells if not is_done(study, c)]
    assert stale == []
