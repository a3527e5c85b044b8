"""``keras_tuner.engine.trial``: a trial as scripts read it, and the names of its statuses (a pruned trial is
``STOPPED``)."""

from mltune.flows.tuner import TrialStatus
from mltune.flows.tuner import TrialView as Trial

__all__ = ["Trial", "TrialStatus"]
