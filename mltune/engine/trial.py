"""``keras_tuner.engine.trial``: a trial as scripts read it, and the names of its statuses."""

from mltune.flows.tuner import TrialView as Trial


class TrialStatus:
    """KerasTuner's trial statuses, as ``Trial.status`` holds them (a pruned trial is ``STOPPED``)."""

    RUNNING = "RUNNING"
    IDLE = "IDLE"
    INVALID = "INVALID"
    STOPPED = "STOPPED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


__all__ = ["Trial", "TrialStatus"]
