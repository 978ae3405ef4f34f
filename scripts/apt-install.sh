#!/usr/bin/env bash
# Usage: scripts/apt-install.sh COMMAND [PACKAGE]
# Install the Debian package that provides COMMAND (PACKAGE, default COMMAND) unless
# COMMAND is already on the PATH. Needs root to install; says what to run otherwise.
set -euo pipefail

command_name="$1"
package="${2:-$1}"

if command -v "$command_name" >/dev/null 2>&1; then
    echo "$command_name already installed: $(command -v "$command_name")"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "$command_name is missing and this script is not running as root;" \
        "run: sudo apt-get update && sudo apt-get install -y $package" >&2
    exit 1
fi

echo "installing $package with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "$package"
echo "installed $command_name: $(command -v "$command_name")"
