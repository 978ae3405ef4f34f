#!/usr/bin/env bash
# Install Debian's chromium for the headless-browser tests (report, dashboard).
# Exits 0 when chromium is already there; needs root to install.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "chromium is missing and this script is not running as root;" \
        "run: sudo apt-get update && sudo apt-get install -y chromium" >&2
    exit 1
fi

echo "installing chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium
echo "installed chromium: $(command -v chromium)"
