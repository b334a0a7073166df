#!/usr/bin/env bash
# Runs every benchmark of the performance issue side by side and writes
# benches/RESULTS.md: the emulator's raw ceiling (wrk), cosinv apply at
# several concurrencies, the official Python SDK, a rate ceiling, injected
# latency, 1,000,000 jobs, a refresh with nothing to change, --rate
# accuracy, HTTPS with one host name per bucket, and throttling and faults
# (rate ceilings found, random SlowDown, a fault mix, outages).
#
# Needs: wrk (Debian: apt-get install wrk), python3 with venv (Debian:
# apt-get install python3-venv) and PyPI for the SDK on the first run.
# Everything it sends goes to 127.0.0.1. Bounded: the whole run is
# stopped after BENCH_TIMEOUT seconds (default 1500).
#
#   benches/run.sh                  # everything, writes benches/RESULTS.md
#   benches/run.sh --only wrk,apply # some sections (see --help), same file
#   benches/run.sh --out /tmp/r.md  # elsewhere
set -euo pipefail

cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    echo "benches/run.sh: wrk is missing; install it with: apt-get install wrk" >&2
    exit 2
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "benches/run.sh: python3 is missing; install it with: apt-get install python3 python3-venv" >&2
    exit 2
fi

echo "benches/run.sh: building the release binary" >&2
CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" cargo build --release --quiet --bin cosinv

# The official SDK, in a virtual environment of its own (kept between runs).
VENV="target/bench-venv"
SDK_VERSION="1.9.44"
if ! "$VENV/bin/python" -c "import qcloud_cos" >/dev/null 2>&1; then
    echo "benches/run.sh: installing cos-python-sdk-v5 $SDK_VERSION into $VENV" >&2
    python3 -m venv "$VENV" || {
        echo "benches/run.sh: python3 -m venv failed; install it with: apt-get install python3-venv" >&2
        exit 2
    }
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "cos-python-sdk-v5==$SDK_VERSION"
fi

exec timeout --kill-after=10 "${BENCH_TIMEOUT:-1500}" \
    "$VENV/bin/python" benches/harness/run.py --bin target/release/cosinv "$@"
