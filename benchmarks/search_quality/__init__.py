"""Search-quality benchmark: tunelab's samplers beside Optuna, Hyperopt and random search."""
