#!/usr/bin/env bash
# Install Debian's chromium for the headless-browser tests (report, dashboard).
exec "$(dirname "$0")/apt-install.sh" chromium
