"""``python -m benchmarks.multi_fidelity``: run the benchmark (see ``run.py``)."""

from benchmarks.multi_fidelity.run import main

main()
