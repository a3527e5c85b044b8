"""Search: the search space, samplers and pruners by name, the study context and the objective (one trial)."""
