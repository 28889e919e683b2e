#!/usr/bin/env bash
# Create .venv and install triage-ml with what the tests need, only when something is missing.
# Safe to run again: it re-installs when pyproject.toml or the extras changed since the last
# install. Prints its own progress lines only; the tools' output goes to .venv/install.log
# (and .venv/apt.log), which is shown when a step fails.
#   EXTRAS=serve bash scripts/setup.sh   # another set of extras (default: dev, all of them)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
EXTRAS="${EXTRAS:-${TRIAGE_EXTRAS:-dev}}"
LOG=.venv/install.log

# Run a step with its output in a log file; when it fails, show the end of the log and stop.
quietly() {
    local log="$1"
    shift
    if ! "$@" >>"$log" 2>&1; then
        echo "setup: failed: $*" >&2
        echo "setup: last lines of $log:" >&2
        tail -n 60 "$log" >&2
        exit 1
    fi
}

if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi

# Debian packages: headless Chromium + driver render the HTML review report in the tests.
if [[ "${TRIAGE_SKIP_APT:-0}" != "1" ]] && { ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; }; then
    echo "setup: installing Debian packages chromium chromium-driver (log: .venv/apt.log)"
    SUDO=""; [[ "$(id -u)" != "0" ]] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    quietly .venv/apt.log $SUDO apt-get update -q
    quietly .venv/apt.log $SUDO apt-get install -y -q chromium chromium-driver fonts-dejavu-core fonts-noto-color-emoji
fi

# Debian packages: a PostgreSQL server for the feedback store's test against a real database
# (tests/feedback/test_postgres.py starts a throwaway cluster with initdb + pg_ctl).
if [[ "${TRIAGE_SKIP_APT:-0}" != "1" ]] && ! command -v initdb >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    echo "setup: installing Debian package postgresql (log: .venv/apt.log)"
    SUDO=""; [[ "$(id -u)" != "0" ]] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    quietly .venv/apt.log $SUDO apt-get update -q
    quietly .venv/apt.log $SUDO apt-get install -y -q postgresql
fi

# Debian packages: a headless Java 17 runtime for Spark (the MLflow pyfunc as a Spark UDF in local
# mode, docs/scale.md; pyspark 4 needs Java 17+).
if [[ "${TRIAGE_SKIP_APT:-0}" != "1" ]] && ! command -v java >/dev/null 2>&1; then
    echo "setup: installing Debian package openjdk-17-jre-headless (log: .venv/apt.log)"
    SUDO=""; [[ "$(id -u)" != "0" ]] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    quietly .venv/apt.log $SUDO apt-get update -q
    quietly .venv/apt.log $SUDO apt-get install -y -q openjdk-17-jre-headless
fi

stamp=".venv/.triage-installed"
want="$(sha256sum pyproject.toml | cut -c1-16) $EXTRAS"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "setup: installing triage-ml[$EXTRAS] into .venv (a few minutes the first time; log: $LOG)"
    started=$SECONDS
    : >"$LOG"
    .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip >>"$LOG" 2>&1 || true
    # pip, not uv: torch==2.13.0 (the finetune extra) comes from a local wheel via pip's config
    quietly "$LOG" .venv/bin/python -m pip install --disable-pip-version-check -e ".[$EXTRAS]"
    echo "$want" >"$stamp"
    echo "setup: installed in $((SECONDS - started)) s"
fi
