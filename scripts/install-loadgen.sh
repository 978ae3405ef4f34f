#!/usr/bin/env bash
# Install wrk, the HTTP load generator benchmarks/serving.py drives every server with.
exec "$(dirname "$0")/apt-install.sh" wrk
