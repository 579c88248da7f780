#!/usr/bin/env bash
# Host speed and instruction counts of ML-DSA verification: otaseal-mldsa
# beside RustCrypto ml-dsa, for 44/65/87.
#   bash benches/mldsa.sh            # timing (cargo bench) + instructions (valgrind, if installed)
# The Cortex-M4 figures (stack, instructions on QEMU) come from
# crates/otaseal-mldsa/firmware/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== host time per verification (median of 15 batches; release build)"
cargo bench -q -p otaseal-mldsa --bench host

if ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind not installed: skipping host instruction counts"
  exit 0
fi
echo "== host (x86-64) instructions per verification, valgrind --tool=callgrind"
cargo build -q --release -p otaseal-mldsa --example verify_once
bin="${CARGO_TARGET_DIR:-target}/release/examples/verify_once"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() { # which level -> instructions of the whole run
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$bin" "$1" "$2" 2>&1 |
    awk '/Collected/ { print $NF }'
}
printf "%-10s %16s %18s\n" level otaseal-mldsa rustcrypto-ml-dsa
for level in 44 65 87; do
  base=$(count none "$level") # key generation and signing only
  ours=$(count ours "$level")
  theirs=$(count rustcrypto "$level")
  printf "ML-DSA-%-3s %16d %18d\n" "$level" $((ours - base)) $((theirs - base))
done
