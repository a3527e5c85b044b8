"""A trial's per-epoch reports to Optuna: the epochs its pruner reads, then its best and its last.

MLflow holds every epoch's values (the trial's run, written in one batch). Optuna needs only what its pruner reads
and what is read from the trial afterwards: its best epoch (promotion's refit trains for that many) and its last
(``last_step``: the epochs it trained, and Hyperband's ``max_resource="auto"``). Each report is a write to the
study's storage (for a journal file: locked and ``fsync``-ed) and each pruning check a read, so reporting only
those epochs keeps a trial's Optuna work from growing with its epochs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mltune.names import BEST_EPOCH_ATTR
from mltune.tasks import is_better

if TYPE_CHECKING:
    import optuna


def pruner_reads(pruner: optuna.pruners.BasePruner) -> Callable[[int], bool]:
    """Whether ``pruner`` reads a trial's value at a (1-based) epoch.

    No pruner reads none. Successive halving and Hyperband read a trial at its rungs only, the epochs
    ``min_resource * reduction_factor ** k`` (Hyperband's brackets start at different ``k`` of the same series),
    and decide there from the value reported at that epoch. Any other pruner, and these with
    ``min_resource="auto"``, may read every epoch.
    """
    import optuna

    if isinstance(pruner, optuna.pruners.NopPruner):
        return lambda epoch: False
    if isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner | optuna.pruners.HyperbandPruner):
        start, factor = getattr(pruner, "_min_resource", None), getattr(pruner, "_reduction_factor", None)
        if isinstance(start, int) and isinstance(factor, int) and start >= 1 and factor >= 2:
            return lambda epoch: _is_rung(epoch, start, factor)
    return lambda epoch: True


def best_epoch(trial: optuna.trial.FrozenTrial, *, direction: str) -> int | None:
    """The (1-based) epoch at which a trial was best: its best reported step (:meth:`EpochReports.close` reports
    it), or, where its steps are folds (``wilcoxon``), the epoch it keeps beside them. None: it reported none."""
    if BEST_EPOCH_ATTR in trial.user_attrs:
        return int(trial.user_attrs[BEST_EPOCH_ATTR])
    steps = trial.intermediate_values
    return (max if direction == "maximize" else min)(steps, key=steps.__getitem__) if steps else None


def _is_rung(epoch: int, start: int, factor: int) -> bool:
    step = start
    while step < epoch:
        step *= factor
    return step == epoch


class EpochReports:
    """Reports one training run's epochs of a trial to Optuna and asks its pruner where it reads them."""

    def __init__(self, trial: optuna.Trial, *, direction: str, label: str, epochs: int | None = None) -> None:
        """``epochs``: the epochs the training runs for, when known: a trial that trained them all is not pruned
        at the last one (Hyperband's brackets may decide at it), it is complete."""
        self.trial, self.direction, self.label, self.epochs = trial, direction, label, epochs
        self.reads = pruner_reads(trial.study.pruner)
        self.reported: set[int] = set()
        self.best: tuple[int, float] | None = None
        self.last: tuple[int, float] | None = None

    def epoch(self, epoch: int, value: float) -> None:
        """Takes an epoch's value; reports it where the pruner reads it.

        Raises:
            optuna.TrialPruned: the pruner stops the trial here.
        """
        import optuna

        self.last = (epoch, value)
        if self.best is None or is_better(value, self.best[1], direction=self.direction):
            self.best = self.last
        if self.reads(epoch):
            self._report(epoch, value)
            if epoch != self.epochs and self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} with {self.label}={value:.6g}")

    def close(self) -> None:
        """Reports the best and the last epoch, once training has ended."""
        for seen in (self.best, self.last):
            if seen is not None and seen[0] not in self.reported:
                self._report(*seen)

    def _report(self, epoch: int, value: float) -> None:
        self.trial.report(value, epoch)
        self.reported.add(epoch)
