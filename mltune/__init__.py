"""mltune: tune Keras models with Optuna inside MLflow workflows.

Importing the package is cheap: MLflow and TensorFlow load only when a study runs.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
