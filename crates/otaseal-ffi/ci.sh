#!/usr/bin/env bash
# Builds the C example (examples/c/verify_package.c) with arm-none-eabi-gcc
# against the otaseal-ffi staticlib for thumbv7em-none-eabihf and runs it in
# QEMU mps2-an386 (Cortex-M4F): a genuine and a tampered package, linked into
# flash, must get the right verdicts (exit status 0), within a time bound.
#
# Needs: rustup target add thumbv7em-none-eabihf;
#        apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm openssl
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=thumbv7em-none-eabihf
target_dir=${CARGO_TARGET_DIR:-$repo/target}
out=$target_dir/otaseal-ffi-arm
mkdir -p "$out"

# ECDSA P-256 + SM2 with X.509 chains: the suites of golden/p256-sm2.ota.
features=panic-handler,ecdsa-p256,sm2,x509
# Firmware settings without touching the workspace profile: size-optimized,
# one codegen unit, LTO, abort on panic.
CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
CARGO_PROFILE_RELEASE_LTO=true \
CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
CARGO_PROFILE_RELEASE_PANIC=abort \
CARGO_TARGET_DIR=$target_dir \
  cargo build --manifest-path "$repo/Cargo.toml" -p otaseal-ffi --release \
  --target "$target" --no-default-features --features "$features"
lib=$target_dir/$target/release/libotaseal_ffi.a

fixtures=$repo/firmware-fixtures
# The packages linked into flash (overridable, e.g. to try freshly signed ones).
genuine=${OTASEAL_FFI_GENUINE:-$fixtures/golden/p256-sm2.ota}
tampered=${OTASEAL_FFI_TAMPERED:-$fixtures/golden/tampered-payload.ota}
openssl x509 -in "$fixtures/pki/ecdsa-p256/root.cert.pem" -outform DER -out "$out/root-p256.der"
openssl x509 -in "$fixtures/pki/sm2/root.cert.pem" -outform DER -out "$out/root-sm2.der"

board=$here/examples/c/mps2-an386
arm-none-eabi-gcc -std=c11 -Wall -Wextra -Werror -Os \
  -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 \
  -ffunction-sections -fdata-sections \
  -DOTASEAL_BARE_METAL -I "$here/include" \
  -DGENUINE="\"$genuine\"" -DTAMPERED="\"$tampered\"" \
  -DROOT_P256="\"$out/root-p256.der\"" -DROOT_SM2="\"$out/root-sm2.der\"" \
  "$here/examples/c/verify_package.c" "$board/startup.c" "$board/blobs.S" "$lib" \
  --specs=nano.specs --specs=rdimon.specs -nostartfiles \
  -T "$board/mps2-an386.ld" -Wl,--gc-sections -Wl,--no-warn-execstack -Wl,-Map="$out/verify_package.map" \
  -o "$out/verify_package.elf"

echo "== size of the C image (text includes the two packages and roots in .blobs):"
arm-none-eabi-size -A "$out/verify_package.elf" | grep -E '^(section|\.vectors|\.text|\.blobs|\.data|\.bss|\.stack|Total)'
arm-none-eabi-size "$out/verify_package.elf"
echo "== staticlib: $(stat -c %s "$lib") bytes ($lib)"

echo "== QEMU mps2-an386"
timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
  -semihosting-config enable=on,target=native -kernel "$out/verify_package.elf"
