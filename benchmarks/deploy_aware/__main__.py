"""``python -m benchmarks.deploy_aware``: run the benchmark (see ``run.py``)."""

from benchmarks.deploy_aware.run import main

main()
