"""Multi-fidelity benchmark: regret against simulated compute on tabulated learning curves."""
