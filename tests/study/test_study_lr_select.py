import json
import math

import pytest

from otmark.study.lr_select import (
    LrSelection,
    LrSelectionError,
    check_candidates,
    select_lr,
    select_lr_in_grid,
)


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


# -- the grid rule of the re-run: >= 5 rates over >= 1.5 decades, extended past an edge ------
GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]  # 2 decades, log step 10**0.5 (rounded: 3x, 3.33x)


def test_best_inside_the_grid_trains_no_extension():
    fake = FakeTraining({1e-4: 9.0, 3e-4: 6.0, 1e-3: 4.0, 3e-3: 5.0, 1e-2: 8.0})
    sel = select_lr_in_grid(fake, GRID)
    assert sel.lr == 1e-3 and sel.inside and sel.extensions == ()
    assert fake.calls == GRID


def test_best_at_the_low_edge_adds_one_rate_below():
    # hand check: 1e-4 is best; the next rate below is 1e-4 * (1e-4 / 3e-4) = 3.33333e-5; it is
    # worse than 1e-4, so 1e-4 is now inside and the search stops
    table = {1e-4: 3.0, 3e-4: 4.0, 1e-3: 5.0, 3e-3: 6.0, 1e-2: 7.0, 3.33333e-5: 3.5}
    fake = FakeTraining(table)
    sel = select_lr_in_grid(fake, GRID)
    assert fake.calls == [*GRID, 3.33333e-5]
    assert sel.extensions == (3.33333e-5,)
    assert sel.lr == 1e-4 and sel.inside
    assert sel.candidates == [3.33333e-5, *GRID]


def test_the_extension_goes_on_while_the_best_is_at_the_edge_up_to_the_limit():
    # the best keeps being the newest, largest rate: 1e-2 -> 3.33333e-2 -> 0.111111 (limit 2)
    table = {1e-4: 9.0, 3e-4: 8.0, 1e-3: 7.0, 3e-3: 6.0, 1e-2: 5.0, 3.33333e-2: 4.0, 0.111111: 3.0}
    sel = select_lr_in_grid(FakeTraining(table), GRID, max_extensions=2)
    assert sel.extensions == (3.33333e-2, 0.111111)
    assert sel.lr == 0.111111 and not sel.inside  # the limit ran out at the edge


def test_a_diverged_top_rate_counts_as_inside():
    table = {1e-4: 9.0, 3e-4: 8.0, 1e-3: 7.0, 3e-3: 4.0, 1e-2: FloatingPointError("nan")}
    fake = FakeTraining(table)
    sel = select_lr_in_grid(fake, GRID)
    assert sel.lr == 3e-3 and sel.inside and sel.extensions == ()
    # the best at the top, and the rate above it diverges: one extension, then inside
    table = {1e-4: 9.0, 3e-4: 8.0, 1e-3: 7.0, 3e-3: 6.0, 1e-2: 4.0, 3.33333e-2: math.nan}
    sel = select_lr_in_grid(FakeTraining(table), GRID)
    assert sel.extensions == (3.33333e-2,) and sel.lr == 1e-2 and sel.inside
    assert sel.curve() == {
        "0.0001": 9.0,
        "0.0003": 8.0,
        "0.001": 7.0,
        "0.003": 6.0,
        "0.01": 4.0,
        "0.0333333": None,
    }


def test_the_grid_needs_five_rates_over_one_and_a_half_decades():
    with pytest.raises(LrSelectionError, match="at least 5"):
        select_lr_in_grid(lambda lr: 1.0, GRID[:4])
    with pytest.raises(LrSelectionError, match=r"span 1\.40 decades, fewer than 1\.5"):
        check_candidates([1e-3, 2e-3, 4e-3, 8e-3, 2.5e-2], 5, 1.5)
    assert check_candidates(GRID, 5, 1.5) == GRID
