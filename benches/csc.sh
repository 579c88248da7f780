#!/usr/bin/env bash
# signHash throughput and p50/p99 latency of the CSC service (otaseal csc),
# P-256 in the software key store and in a SoftHSM2 token (a temporary token;
# skipped with a note without SoftHSM2), 1 and 32 hashes per call, each
# against the key's local sign_prehash measured in the same run (the ratio is
# the figure to compare across machines).
#
# Usage: bash benches/csc.sh [SECONDS_PER_CASE] [CLIENT_THREADS]
# Builds in the dev profile: every dependency (crypto, hyper, SQLite) is
# compiled with opt-level 3 by the workspace profile; pass PROFILE=release to
# build otaseal-csc itself optimised too.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
threads=${2:-2}
profile=${PROFILE:-dev}
echo "machine: $(nproc) cores; profile $profile; $secs s per case; $threads client threads"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The service's per-request JSON log lines go to $log (printed on failure).
if ! cargo run -q --profile "$profile" -p otaseal-csc --example csc_bench -- "$secs" "$threads" 2>"$log"; then
  tail -n 20 "$log" >&2
  exit 1
fi
