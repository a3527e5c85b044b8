"""Flows: tune, work, promote, retune and train; each builds one StudyContext and uses it."""
