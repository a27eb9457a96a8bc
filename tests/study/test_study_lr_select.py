import json
import math

import pytest

from otmark.study.lr_select import LrSelection, LrSelectionError, select_lr


class FakeTraining:
    """``lr -> NME`` from a table; records the order of the calls."""

    def __init__(self, table):
        self.table = table
        self.calls = []

    def __call__(self, lr):
        self.calls.append(lr)
        out = self.table[lr]
        if isinstance(out, Exception):
            raise out
        return out


def test_picks_the_lowest_validation_nme_and_records_the_table():
    fake = FakeTraining({3e-3: 5.0, 5e-4: 6.5, 1e-3: 4.2})
    sel = select_lr(fake, [3e-3, 5e-4, 1e-3])
    assert sel.lr == 1e-3
    assert fake.calls == [5e-4, 1e-3, 3e-3]  # increasing rates
    assert sel.table == ((5e-4, 6.5), (1e-3, 4.2), (3e-3, 5.0))
    assert sel.candidates == [5e-4, 1e-3, 3e-3]


def test_ties_go_to_the_smaller_rate():
    assert select_lr(FakeTraining({1e-4: 4.0, 1e-3: 4.0, 1e-2: 4.0}), [1e-2, 1e-3, 1e-4]).lr == 1e-4
    fake = FakeTraining({1e-4: 4.05, 1e-3: 4.0, 1e-2: 6.0})
    assert select_lr(fake, [1e-4, 1e-3, 1e-2]).lr == 1e-3
    # within a 2 % tolerance 4.05 ties with 4.0: the smaller rate wins
    assert select_lr(fake, [1e-4, 1e-3, 1e-2], tie_tolerance=0.02).lr == 1e-4


def test_diverged_runs_score_inf():
    fake = FakeTraining(
        {1e-4: 7.0, 1e-3: math.nan, 1e-2: FloatingPointError("non-finite loss"), 1e-1: math.inf}
    )
    sel = select_lr(fake, [1e-4, 1e-3, 1e-2, 1e-1])
    assert sel.lr == 1e-4
    assert [v for _, v in sel.table] == [7.0, math.inf, math.inf, math.inf]
    record = sel.to_dict()
    assert record == {
        "lr": 1e-4,
        "lr_candidates": [1e-4, 1e-3, 1e-2, 1e-1],
        "val_nme": [7.0, None, None, None],
    }
    json.dumps(record, allow_nan=False)


def test_every_run_diverged():
    fake = FakeTraining({1e-4: math.nan, 1e-3: math.inf, 1e-2: math.nan})
    with pytest.raises(LrSelectionError, match="diverged") as err:
        select_lr(fake, [1e-4, 1e-3, 1e-2])
    assert [lr for lr, _ in err.value.table] == [1e-4, 1e-3, 1e-2]


def test_other_errors_are_not_hidden():
    fake = FakeTraining({1e-4: 1.0, 1e-3: RuntimeError("out of memory"), 1e-2: 2.0})
    with pytest.raises(RuntimeError, match="out of memory"):
        select_lr(fake, [1e-4, 1e-3, 1e-2])


@pytest.mark.parametrize(
    "candidates, match",
    [
        ([1e-3, 1e-2], "at least 3"),
        ([1e-3, 1e-3, 1e-2], "duplicate"),
        ([1e-3, 0.0, 1e-2], "> 0"),
        ([1e-3, math.nan, 1e-2], "> 0"),
    ],
)
def test_bad_candidates(candidates, match):
    with pytest.raises(LrSelectionError, match=match):
        select_lr(lambda lr: 1.0, candidates)


def test_selection_is_a_plain_value():
    sel = LrSelection(1e-3, ((1e-3, 2.0),))
    assert sel.to_dict()["lr_candidates"] == [1e-3]
