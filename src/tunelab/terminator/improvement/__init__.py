"""Improvement evaluators under Optuna's package path ``optuna.terminator.improvement``."""
