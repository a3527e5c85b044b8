"""Tracking: the only code that talks to MLflow: tag names, runs, the pyfunc model and the registry."""
