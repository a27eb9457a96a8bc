"""The cost of a study before it runs (``otmark study --plan``): every learning-rate run and
every training, with its step cap and its estimated hours.

Step times come from the study config's ``shard_cost`` (seconds per training step of a
model, plus a loss's extra, validation included: :meth:`StudyConfig.training_cost`).
Per learning-rate family (:meth:`StudyConfig.families`): ``candidates x cap`` steps, and up to
``max_extensions`` more runs when the best rate sits at an edge. Per training (decoder-only
variants share one): ``cap`` steps. Scoring the test protocols costs
:data:`SCORE_S_PER_PROTOCOL` seconds per protocol and pass (the converged study's HRNet
cells: about 35 s for 7 protocols and their clean counterparts), scaled by the model's step
cost (``shard_cost.model``) against HRNet's, once per ``score_every`` steps and at the end.

Two totals: *worst* (every run to its cap, every extension trained) and *expected* (each run
stops at ``expected_share`` of its cap; no extension) - the share is an assumption, not a
measurement: the converged study's runs that stopped at their plateau did so after 73-98 % of
a 2,000-step cap, and its capped runs were still improving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from otmark.study.cells import setting_of
from otmark.study.config import Cell, StudyConfig, lr_select_config

#: seconds to score one protocol (and its clean counterpart) once, at an HRNet step cost of
#: :data:`REFERENCE_STEP_S` (the converged study's cells)
SCORE_S_PER_PROTOCOL = 5.0
REFERENCE_STEP_S = 0.42


@dataclass(frozen=True)
class PlanRow:
    """One learning-rate family (``kind`` ``lr``) or one training (``kind`` ``train``).

    Attributes:
        name: the family, or the training's cell ids (decoder-only variants share it).
        experiment: the experiment (a family: the first one using it).
        runs: trainings (a family: its candidates; ``extra_runs`` more at most).
        cap: steps per run at most.
        step_s: seconds per step (``shard_cost``).
        score_s: seconds of test-protocol scoring at the cap (0 for a family).
        extra_runs: a family's possible grid extensions.
    """

    kind: str
    name: str
    experiment: str
    runs: int
    cap: int
    step_s: float
    score_s: float = 0.0
    extra_runs: int = 0

    def worst_hours(self) -> float:
        return ((self.runs + self.extra_runs) * self.cap * self.step_s + self.score_s) / 3600

    def expected_hours(self, share: float) -> float:
        return (self.runs * share * self.cap * self.step_s + self.score_s) / 3600


@dataclass(frozen=True)
class StudyPlan:
    """Rows of a study's plan and the share of the cap assumed for the expected total."""

    rows: tuple[PlanRow, ...]
    expected_share: float

    def total(self, kind: str | None = None, worst: bool = True) -> float:
        rows = [r for r in self.rows if kind is None or r.kind == kind]
        if worst:
            return sum(r.worst_hours() for r in rows)
        return sum(r.expected_hours(self.expected_share) for r in rows)

    def lines(self) -> list[str]:
        """The plan as text: one line per row, subtotals per experiment, the totals."""
        share = self.expected_share
        out = ["learning-rate stage (per family: candidates x cap steps; + extensions at most):"]
        for r in (r for r in self.rows if r.kind == "lr"):
            out.append(
                f"  {r.name}: {r.runs} runs (+{r.extra_runs}) x {r.cap} steps x "
                f"{r.step_s:.2f} s = {r.worst_hours():.2f} h worst, "
                f"{r.expected_hours(share):.2f} h expected"
            )
        out.append("trainings (decoder-only variants share one; cap steps, scoring at the cap):")
        for r in (r for r in self.rows if r.kind == "train"):
            out.append(
                f"  {r.name}: {r.cap} steps x {r.step_s:.2f} s + {r.score_s:.0f} s scoring = "
                f"{r.worst_hours():.2f} h worst, {r.expected_hours(share):.2f} h expected"
            )
        experiments = sorted({r.experiment for r in self.rows})
        for exp in experiments:
            rows = [r for r in self.rows if r.experiment == exp]
            out.append(
                f"experiment {exp}: {sum(r.kind == 'lr' for r in rows)} families, "
                f"{sum(r.kind == 'train' for r in rows)} trainings, "
                f"{sum(r.worst_hours() for r in rows):.1f} h worst, "
                f"{sum(r.expected_hours(share) for r in rows):.1f} h expected"
            )
        out.append(
            f"total: learning-rate stage {self.total('lr'):.1f} h worst "
            f"({self.total('lr', False):.1f} expected), trainings {self.total('train'):.1f} h "
            f"worst ({self.total('train', False):.1f} expected); all {self.total():.1f} h "
            f"worst, {self.total(worst=False):.1f} h expected (runs stopping at "
            f"{share:.0%} of their cap, an assumption)"
        )
        return out


def _cap(cfg) -> int:
    o = cfg.optim
    return int(o.max_steps if o.plateau.enabled or o.steps is None else o.steps)


def plan_study(
    study: StudyConfig, cells: list[Cell] | None = None, expected_share: float = 0.65
) -> StudyPlan:
    """The plan of ``cells`` (default: all the study's cells) and of their families'
    learning-rate runs (see the module docstring)."""
    if not 0.0 < expected_share <= 1.0:
        raise ValueError(f"expected_share must be in (0, 1], got {expected_share}")
    cells = study.cells() if cells is None else cells
    rows: list[PlanRow] = []
    first: dict[str, Cell] = {}
    for cell in cells:
        first.setdefault(study.family_of(cell), cell)
    families = study.families()
    for fam, cell in first.items():
        cfg = lr_select_config(study, fam, "<root>", None)
        spec = families[fam]
        setting = setting_of(spec.train_on, spec.setting, study.source)
        rows.append(
            PlanRow(
                "lr",
                fam,
                cell.experiment.name,
                len(cfg.optim.lr_candidates),
                _cap(cfg),
                study.step_cost(spec.model, setting),
                extra_runs=study.lr_select.max_extensions,
            )
        )
    trainings: dict[str, list[Cell]] = {}
    for cell in cells:
        trainings.setdefault(cell.training_id, []).append(cell)
    for group in trainings.values():
        cell = group[0]
        cap = _cap(study.cell_config(cell))
        step_s = study.training_cost(cell)
        passes = (math.ceil(cap / study.score_every) if study.score_every else 0) + 1
        model_s = study.shard_cost.get("model", {}).get(cell.experiment.model, REFERENCE_STEP_S)
        per_pass = SCORE_S_PER_PROTOCOL * len(cell.experiment.protocols) * model_s
        per_pass /= REFERENCE_STEP_S
        rows.append(
            PlanRow(
                "train",
                " + ".join(c.id for c in group),
                cell.experiment.name,
                1,
                cap,
                step_s,
                score_s=passes * per_pass * len(group),
            )
        )
    return StudyPlan(tuple(rows), expected_share)
