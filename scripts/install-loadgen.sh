#!/usr/bin/env bash
# Install wrk, the HTTP load generator benchmarks/serving.py drives every server with.
# Exits 0 when wrk is already there; needs root to install (Debian/Ubuntu apt-get).
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
    echo "wrk already installed: $(command -v wrk)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "wrk is missing and this script is not running as root;" \
        "run: sudo apt-get update && sudo apt-get install -y wrk" >&2
    exit 1
fi

echo "installing wrk with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends wrk
echo "installed wrk: $(command -v wrk)"
