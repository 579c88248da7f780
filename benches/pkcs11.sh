#!/usr/bin/env bash
# ECDSA P-256 signatures/s through SoftHSM2 against the same key as a file,
# measured in the same run (one process, same message sizes). Needs softhsm2,
# opensc (pkcs11-tool) and openssl. Usage: bash benches/pkcs11.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-2000}
module=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
  [ -e "$m" ] && module=$m && break
done
[ -n "$module" ] || { echo "SoftHSM2 not found (apt-get install softhsm2 opensc)"; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir" > "$dir/softhsm2.conf"
export SOFTHSM2_CONF="$dir/softhsm2.conf"
softhsm2-util --init-token --free --label bench --so-pin 0815 --pin 4711 >/dev/null
# One key, twice: PKCS#8 file for otaseal's file backend, imported into the token.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/key.pem" 2>/dev/null
openssl pkey -in "$dir/key.pem" -outform DER -out "$dir/key.der"
openssl pkey -in "$dir/key.pem" -pubout -outform DER -out "$dir/pub.der"
p11() { pkcs11-tool --module "$module" --token-label bench --login --pin 4711 "$@" >/dev/null; }
p11 --write-object "$dir/key.der" --type privkey --id 01 --label bench-p256
p11 --write-object "$dir/pub.der" --type pubkey --id 01 --label bench-p256
echo 4711 > "$dir/pin"
export OTASEAL_PKCS11_MODULE=$module
# dev profile: the crypto crates are optimised there too (workspace Cargo.toml)
cargo run -q -p otaseal-keys --example pkcs11_bench -- \
  "$dir/key.pem" "pkcs11:token=bench;object=bench-p256?pin-source=$dir/pin" "$count"
