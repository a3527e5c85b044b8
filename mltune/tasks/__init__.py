"""Tasks (classification, regression, reconstruction): target encoding, outputs, loss and metrics.

The lowest layer of the package: it imports nothing else of mltune, and Keras only when a model is built.
"""

from __future__ import annotations

from mltune.tasks.encoding import EPSILON, Encoding
from mltune.tasks.metrics import METRICS, Direction, Metric, is_better, score
from mltune.tasks.task import TASKS, Task

__all__ = ["EPSILON", "METRICS", "TASKS", "Direction", "Encoding", "Metric", "Task", "is_better", "score"]
