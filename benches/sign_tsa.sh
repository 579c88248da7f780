#!/usr/bin/env bash
# `otaseal sign` of one payload with and without --tsa, same binary, same
# file, same run (best of RUNS each, alternating). With --tsa the signer
# hashes first, asks the TSA, then writes the package once; without, it
# writes while it hashes. The TSA is `otaseal tsa serve` on 127.0.0.1 with
# the fixtures' throwaway ECDSA P-256 TSA key.
#
#   bash benches/sign_tsa.sh [SIZE_MIB] [RUNS]       # default 1024 MiB, 3 runs
#   OTASEAL=target/release/otaseal bash benches/sign_tsa.sh
#
# Without $OTASEAL it builds the dev profile (the crypto crates are
# optimised there too, see the workspace Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
runs=${2:-3}
if [[ -z ${OTASEAL:-} ]]; then
    cargo build -q -p otaseal-cli --bin otaseal
    OTASEAL=${CARGO_TARGET_DIR:-target}/debug/otaseal
fi
pki=firmware-fixtures/pki
dir=$(mktemp -d -p "${BENCH_DIR:-/tmp}")
tsa_pid=
cleanup() {
    [[ -n $tsa_pid ]] && kill "$tsa_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

head -c "$((size_mib << 20))" /dev/urandom >"$dir/payload.bin"
"$OTASEAL" tsa serve --listen 127.0.0.1:0 --key "$pki/ecdsa-p256/tsa.key.pem" \
    --cert "$pki/ecdsa-p256/tsa.chain.pem" --serial-store "$dir/serials" >"$dir/tsa.log" 2>&1 &
tsa_pid=$!
for _ in $(seq 100); do grep -q listening "$dir/tsa.log" && break; sleep 0.1; done
url=$(awk '/listening/{print $NF}' "$dir/tsa.log")
[[ -n $url ]] || { echo "TSA did not start" >&2; cat "$dir/tsa.log" >&2; exit 1; }

sign() {
    rm -f "$dir/out.ota"
    local t0 t1
    t0=$(date +%s.%N)
    "$OTASEAL" sign --out "$dir/out.ota" --product bench --version 1 --security-version 1 \
        --hw-compat x --signer "key=$pki/ecdsa-p256/signer.key.pem,cert=$pki/ecdsa-p256/signer.chain.pem" \
        "$@" "$dir/payload.bin" >/dev/null
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}

best_plain=999999
best_tsa=999999
for i in $(seq "$runs"); do
    sync
    p=$(sign)
    sync
    t=$(sign --tsa "$url")
    echo "run $i: without --tsa ${p}s, with --tsa ${t}s"
    best_plain=$(echo "if ($p < $best_plain) $p else $best_plain" | bc)
    best_tsa=$(echo "if ($t < $best_tsa) $t else $best_tsa" | bc)
done
"$OTASEAL" verify "$dir/out.ota" --trust "$pki/roots.pem" --tsa-trust "$pki/tsa-roots.pem" \
    --require-timestamp >/dev/null
printf '%s MiB, best of %s: sign %.2fs, sign --tsa %.2fs (%.2fx)\n' "$size_mib" "$runs" \
    "$best_plain" "$best_tsa" "$(echo "$best_tsa / $best_plain" | bc -l)"
