#!/usr/bin/env bash
# Create the virtual environments of the search-quality peers, HEBO and SMAC3.
#
# Each peer gets its own environment (HEBO pins numpy<2 and pandas<2), never the
# project's .venv. Usage: bash benchmarks/search_quality/peers_setup.sh [hebo] [smac]
# (both by default). Locations: $HEBO_VENV (default /work/venvs/hebo) and $SMAC_VENV
# (default /work/venvs/smac); PYTHON picks the interpreter (default python3.11).
set -euo pipefail

PYTHON=${PYTHON:-python3.11}
peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(hebo smac)

for peer in "${peers[@]}"; do
    case "$peer" in
        hebo) venv=${HEBO_VENV:-/work/venvs/hebo}; packages=(hebo==0.3.6) ;;
        # SMAC3 2.4 grows its random forest with scikit-learn: no pyrfr (nor swig) needed.
        smac) venv=${SMAC_VENV:-/work/venvs/smac}; packages=(smac==2.4.1) ;;
        *) echo "unknown peer '$peer': expected hebo or smac" >&2; exit 2 ;;
    esac
    echo "== $peer -> $venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    for package in "${packages[@]}"; do
        "$venv/bin/pip" install "$package"
    done
    "$venv/bin/python" -c "import sys; from importlib import metadata; print('$peer', metadata.version('$peer'), sys.version.split()[0])"
done
