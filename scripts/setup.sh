#!/usr/bin/env bash
# Create .venv and install triage-ml with what the tests need, only when something is missing.
# Safe to run again: it re-installs when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
EXTRAS="${TRIAGE_EXTRAS:-dev,bench}"

# Debian packages: headless Chromium + driver render the HTML review report in the tests.
if [[ "${TRIAGE_SKIP_APT:-0}" != "1" ]] && { ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; }; then
    echo "setup: installing Debian packages chromium chromium-driver"
    SUDO=""; [[ "$(id -u)" != "0" ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver fonts-dejavu-core fonts-noto-color-emoji >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi

stamp=".venv/.triage-installed"
want="$(cat pyproject.toml | sha256sum | cut -c1-16) $EXTRAS"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "setup: installing triage-ml[$EXTRAS] into .venv (a few minutes the first time)"
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>/dev/null || true
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$EXTRAS]" 2> >(grep -v "is ignored: it is neither" >&2)
    echo "$want" > "$stamp"
fi
