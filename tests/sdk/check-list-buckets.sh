#!/usr/bin/env bash
# Checks the emulator's GET Service (paging, region filters, signatures)
# against Tencent's official Python SDK, cos-python-sdk-v5: see
# list_buckets.py for what is checked. Needs python3 and PyPI, so it is
# not part of `cargo test`; run it by hand after changing GET Service:
#
#   tests/sdk/check-list-buckets.sh
#
# Last run (2026-11-30, cos-python-sdk-v5 1.9.44): passed. 11 buckets in 6
# pages of 2 with markers followed; one page with the SDK's defaults; the
# SDK's Region parameter; Host cos.ap-beijing.myqcloud.com listing only
# ap-beijing; a wrong key refused with 403 SignatureDoesNotMatch.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
emulator_pid=""
cleanup() {
    if [[ -n "$emulator_pid" ]]; then kill "$emulator_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== building cosinv"
CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" cargo build --quiet
cosinv="$PWD/target/debug/cosinv"

echo "== installing cos-python-sdk-v5 in a fresh venv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check cos-python-sdk-v5
"$work/venv/bin/pip" show cos-python-sdk-v5 | grep -E '^(Name|Version):'

# 11 buckets in three regions: pages of 2 end on a half page.
buckets="$work/buckets.txt"
for n in 01 02 03 04 05 06; do echo "media-$n-1250000000,ap-guangzhou"; done > "$buckets"
for n in 07 08 09; do echo "media-$n-1250000000,ap-shanghai"; done >> "$buckets"
echo "logs-bj-1250000000,ap-beijing" >> "$buckets"
echo "audit-bj-1250000000,ap-beijing" >> "$buckets"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
secret_id="AKIDsdkcheck"
secret_key="sdk-check-secret"
"$cosinv" emulate --listen "127.0.0.1:$port" --secret-id "$secret_id" \
    --secret-key "$secret_key" --buckets-file "$buckets" > "$work/emulator.log" 2>&1 &
emulator_pid=$!
for _ in $(seq 50); do
    if curl -sf "http://127.0.0.1:$port/-/cosinv/counters" > /dev/null; then break; fi
    sleep 0.1
done

echo "== cos-python-sdk-v5 list_buckets against cosinv emulate on 127.0.0.1:$port"
"$work/venv/bin/python" tests/sdk/list_buckets.py "$port" "$secret_id" "$secret_key" "$buckets"
