#!/usr/bin/env bash
# Builds the firmware example for every profile, runs each image in QEMU
# mps2-an386, asserts both verdicts and prints one table of sizes, stack and
# buffer use. Verifier flash is each profile's .text+.rodata minus the
# baseline image's: the same harness with the verifier call stubbed.
# Runs Wycheproof's ECDSA P-256 vectors on the target (feature
# `wycheproof`: the P-256 backend of thumbv7em, p256-cm4) and asserts every
# verdict. Also builds every profile for thumbv6m-none-eabi (Cortex-M0+)
# and fails when one does not compile.
#
# usage: bash firmware-example/measure.sh [--packages-only] [--no-thumbv6m]
#            [--thumbv6m-profiles "P1 P2"] [--frames N]
#            [--budget PROFILE.METRIC=BYTES]...
#   --packages-only  only sign the packages (target/packages/PROFILE.ota)
#   --no-thumbv6m    skip the Cortex-M0+ builds
#   --thumbv6m-profiles  build only these profiles for Cortex-M0+ (CI builds
#                    the smallest and the largest; default: every profile)
#   --frames N       also list the N largest stack frames (needs the nightly
#                    toolchain with thumbv7em-none-eabihf) and flash users per
#                    profile (default 0)
#   --budget         fail if PROFILE's METRIC exceeds BYTES; METRIC is flash
#                    (verifier .text+.rodata), stack (peak), ram (.data+.bss)
#                    or buffer (buffer used). Also from the environment:
#                    OTASEAL_FW_BUDGETS="minimal.flash=40960 minimal.stack=8192"
# Environment: OTASEAL=path to a built `otaseal` CLI (else built here with
# cargo); FW_TARGET_DIR (default firmware-example/target); QEMU_TIMEOUT
# seconds per run (default 120).
#
# Exit status: 0 when every profile gave both verdicts right and no budget
# was exceeded; 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
fixtures=$root/firmware-fixtures
fw_target=${FW_TARGET_DIR:-$here/target}
pkg_dir=$fw_target/packages
out_dir=$fw_target/measure
qemu_timeout=${QEMU_TIMEOUT:-120}
profiles=(minimal minimal-ed25519 x509 dual hybrid all)

packages_only=0
thumbv6m=1
m0_profiles=()
frames=0
budgets=(${OTASEAL_FW_BUDGETS:-})
while (($#)); do
    case $1 in
        --packages-only) packages_only=1 ;;
        --no-thumbv6m) thumbv6m=0 ;;
        --thumbv6m-profiles) read -r -a m0_profiles <<<"$2"; shift ;;
        --frames) frames=$2; shift ;;
        --budget) budgets+=("$2"); shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "measure.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

die() { echo "measure.sh: $*" >&2; exit 1; }
for tool in qemu-system-arm arm-none-eabi-size arm-none-eabi-nm arm-none-eabi-readelf python3; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y qemu-system-arm binutils-arm-none-eabi python3)"
done

# ---------------------------------------------------------------------------
# 1. Packages, signed with the committed throwaway fixture keys.
# ---------------------------------------------------------------------------
if [[ -z ${OTASEAL:-} ]]; then
    echo "== building otaseal-cli" >&2
    (cd "$root" && cargo build -q --release -p otaseal-cli)
    OTASEAL=${CARGO_TARGET_DIR:-$root/target}/release/otaseal
fi
[[ -x $OTASEAL ]] || die "no otaseal CLI at $OTASEAL"

mkdir -p "$pkg_dir" "$out_dir"
tsa_tmp=$(mktemp -d)
tsa_pids=()
cleanup() {
    if ((${#tsa_pids[@]})); then kill "${tsa_pids[@]}" 2>/dev/null || true; fi
    tsa_pids=()
    rm -rf "$tsa_tmp"
}
trap cleanup EXIT

# Starts a loopback TSA for suite $1 and stores its URL in the variable named
# $2. Not called in $(...): the pid must reach this shell's tsa_pids.
start_tsa() {
    local log=$tsa_tmp/$1.log
    "$OTASEAL" tsa serve --listen 127.0.0.1:0 --key "$fixtures/pki/$1/tsa.key.pem" \
        --cert "$fixtures/pki/$1/tsa.chain.pem" --serial-store "$tsa_tmp/$1.serials" \
        >"$log" 2>&1 &
    tsa_pids+=($!)
    for _ in $(seq 100); do
        grep -q listening "$log" 2>/dev/null && break
        sleep 0.1
    done
    grep -q listening "$log" || die "TSA for $1 did not start: $(cat "$log")"
    printf -v "$2" '%s' "$(awk '/listening/{print $NF}' "$log")"
}

echo "== signing packages into $pkg_dir" >&2
# A 32 KiB payload: a multiple of 512, so the package has no payload padding.
head -c 32768 "$fixtures/samples/firmware.bin" >"$pkg_dir/firmware.bin"
start_tsa ecdsa-p256 tsa_p256
start_tsa sm2 tsa_sm2
start_tsa ml-dsa-65 tsa_mldsa
x509() { echo "key=$fixtures/pki/$1/signer.key.pem,cert=$fixtures/pki/$1/signer.chain.pem,tsa=$2"; }
sign() {
    local profile=$1
    shift
    "$OTASEAL" sign --force --out "$pkg_dir/$profile.ota" --product acme.fw --version 1.0.0 \
        --security-version 12 --hw-compat acme-rev-a --created 2026-12-01T00:00:00Z \
        "$@" "$pkg_dir/firmware.bin" >/dev/null
}
sign minimal --signer "key=$fixtures/pki/ecdsa-p256/signer.key.pem"
sign minimal-ed25519 --signer "key=$fixtures/pki/ed25519/signer.key.pem"
sign x509 --signer "$(x509 ecdsa-p256 "$tsa_p256")"
sign dual --signer "$(x509 ecdsa-p256 "$tsa_p256")" --signer "$(x509 sm2 "$tsa_sm2")"
sign hybrid --signer "$(x509 ecdsa-p256 "$tsa_p256")" --signer "$(x509 ml-dsa-65 "$tsa_mldsa")"
sign all --signer "$(x509 ecdsa-p256 "$tsa_p256")" --signer "$(x509 sm2 "$tsa_sm2")" \
    --signer "$(x509 ml-dsa-65 "$tsa_mldsa")"
cleanup
trap - EXIT

# The host verifier must accept what the device is asked to accept (the same
# trust and requirement as build.rs and src/main.rs).
pki=$fixtures/pki
host_args() {
    case $1 in
        minimal) echo "--trust-key $pki/ecdsa-p256/signer.pub.pem --require ecdsa-p256" ;;
        minimal-ed25519) echo "--trust-key $pki/ed25519/signer.pub.pem --require ed25519" ;;
        x509) echo "--trust $pki/ecdsa-p256/root.cert.pem --tsa-trust $pki/ecdsa-p256/tsa-root.cert.pem --require ecdsa-p256 --require-timestamp" ;;
        dual) echo "--trust $pki/ecdsa-p256/root.cert.pem --trust $pki/sm2/root.cert.pem --tsa-trust $pki/ecdsa-p256/tsa-root.cert.pem --tsa-trust $pki/sm2/tsa-root.cert.pem --require ecdsa-p256+sm2 --require-timestamp" ;;
        hybrid) echo "--trust $pki/ecdsa-p256/root.cert.pem --trust $pki/ml-dsa-65/root.cert.pem --tsa-trust $pki/ecdsa-p256/tsa-root.cert.pem --tsa-trust $pki/ml-dsa-65/tsa-root.cert.pem --require ecdsa-p256+ml-dsa-65 --require-timestamp" ;;
        all) echo "--trust $pki/ecdsa-p256/root.cert.pem --trust $pki/sm2/root.cert.pem --trust $pki/ml-dsa-65/root.cert.pem --tsa-trust $pki/ecdsa-p256/tsa-root.cert.pem --tsa-trust $pki/sm2/tsa-root.cert.pem --tsa-trust $pki/ml-dsa-65/tsa-root.cert.pem --require ecdsa-p256+sm2+ml-dsa-65 --require-timestamp" ;;
    esac
}
for p in "${profiles[@]}"; do
    # shellcheck disable=SC2046 # word splitting of the argument list is wanted
    "$OTASEAL" verify "$pkg_dir/$p.ota" $(host_args "$p") --hw-id acme-rev-a \
        --min-security-version 12 >/dev/null ||
        die "the host CLI rejects $pkg_dir/$p.ota"
done
((packages_only)) && { echo "packages in $pkg_dir" >&2; exit 0; }

# Size of a ustar member (octal field at 124..136 of its header).
envelope_size() { python3 -c 'import sys; d=open(sys.argv[1],"rb").read(512); print(int(d[124:136].strip(b"\0 "), 8))' "$1"; }

# ---------------------------------------------------------------------------
# 2. Images: the empty one, the baseline (harness, verifier stubbed), one per profile.
# ---------------------------------------------------------------------------
build() { # target features... -> builds into $fw_target
    local target=$1
    shift
    (cd "$here" && CARGO_TARGET_DIR=$fw_target OTASEAL_FW_PACKAGES=$pkg_dir \
        cargo build -q --release --target "$target" "$@")
}
elf_of() { echo "$fw_target/$1/release/otaseal-firmware-example"; }

echo "== building images (thumbv7em-none-eabihf)" >&2
# The empty image (runtime only), reported for reference.
build thumbv7em-none-eabihf
cp "$(elf_of thumbv7em-none-eabihf)" "$out_dir/empty.elf"
# The baseline subtracted from every profile: the same harness (feed loop,
# stack painting, verdict printing) with the verifier call stubbed by a no-op
# giving the expected verdicts (feature `baseline`, src/main.rs), so
# "verifier flash" is exactly what linking the verifier adds.
build thumbv7em-none-eabihf --features minimal,baseline
cp "$(elf_of thumbv7em-none-eabihf)" "$out_dir/baseline.elf"
for p in "${profiles[@]}"; do
    build thumbv7em-none-eabihf --features "$p"
    cp "$(elf_of thumbv7em-none-eabihf)" "$out_dir/$p.elf"
done

# section NAME of ELF in bytes (0 when absent)
section() { arm-none-eabi-size -A "$1" | awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'; }

# ---------------------------------------------------------------------------
# 3. Runs in QEMU.
# ---------------------------------------------------------------------------
run_image() { # profile -> log in $out_dir/PROFILE.log, returns QEMU's status
    timeout "$qemu_timeout" qemu-system-arm -M mps2-an386 -nographic \
        -semihosting-config enable=on,target=native -kernel "$out_dir/$1.elf" \
        >"$out_dir/$1.log" 2>&1
}

run_image empty || die "the empty image failed: $(cat "$out_dir/empty.log")"
run_image baseline || die "the baseline image failed: $(cat "$out_dir/baseline.log")"
if ! grep -qx 'verdict genuine: ACCEPTED security_version=12' "$out_dir/baseline.log" ||
    ! grep -qx 'verdict tampered: REJECTED payload-digest-mismatch' "$out_dir/baseline.log"; then
    die "the baseline image printed the wrong verdicts: $(cat "$out_dir/baseline.log")"
fi
empty_text=$(section "$out_dir/empty.elf" .text)
empty_rodata=$(section "$out_dir/empty.elf" .rodata)
base_text=$(section "$out_dir/baseline.elf" .text)
base_rodata=$(section "$out_dir/baseline.elf" .rodata)

failed=0
rows=()
declare -A metric
for p in "${profiles[@]}"; do
    elf=$out_dir/$p.elf
    status=0
    run_image "$p" || status=$?
    log=$out_dir/$p.log
    genuine=$(sed -n 's/^verdict genuine: //p' "$log")
    tampered=$(sed -n 's/^verdict tampered: //p' "$log")
    verdicts="genuine ${genuine:-none}, tampered ${tampered:-none}"
    if [[ $status -ne 0 || $genuine != "ACCEPTED security_version=12" ||
        $tampered != "REJECTED payload-digest-mismatch" ]]; then
        echo "measure.sh: $p: wrong verdicts or exit status $status:" >&2
        sed 's/^/    /' "$log" >&2
        verdicts="FAIL ($verdicts, exit $status)"
        failed=1
    fi
    stack=$(sed -n 's/^measure .*stack=\([0-9]*\).*/\1/p' "$log" | sort -n | tail -1)
    used=$(sed -n 's/^measure genuine:.*buffer_used=\([0-9]*\).*/\1/p' "$log")
    bufsize=$(sed -n 's/.* buffer \([0-9]*\) bytes.*/\1/p' "$log")
    vstruct=$(sed -n 's/.*verifier struct \([0-9]*\) bytes.*/\1/p' "$log")
    text=$(section "$elf" .text)
    rodata=$(section "$elf" .rodata)
    ram=$(($(section "$elf" .data) + $(section "$elf" .bss) + $(section "$elf" .uninit)))
    flash=$((text + rodata - base_text - base_rodata))
    metric[$p.flash]=$flash
    metric[$p.stack]=${stack:-0}
    metric[$p.ram]=$ram
    metric[$p.buffer]=${used:-0}
    rows+=("$(printf '| %s | %d | %d | %d | %d | %d | %s | %s / %s | %d | %d | %s |' \
        "$p" "$text" "$rodata" "$flash" "$(section "$elf" .otaseal_trust)" "$ram" \
        "${stack:-?}" "${used:-?}" "${bufsize:-?}" "$(envelope_size "$pkg_dir/$p.ota")" \
        "${vstruct:-0}" "$verdicts")")
done

# ---------------------------------------------------------------------------
# 3b. Wycheproof ECDSA P-256 vectors through the target's P-256 backend.
# ---------------------------------------------------------------------------
# 262 cases of ecdsa_secp256r1_sha256_p1363_test.json run as 575: each valid
# one also with the key compressed, each high-S one also as its low-S twin
# (build.rs). The image exits 0 only if every verdict is the expected one.
wycheproof_runs=575
wycheproof_accepted=346
echo "== building and running the Wycheproof image (thumbv7em-none-eabihf)" >&2
build thumbv7em-none-eabihf --features wycheproof
cp "$(elf_of thumbv7em-none-eabihf)" "$out_dir/wycheproof.elf"
status=0
run_image wycheproof || status=$?
wycheproof=$(sed -n 's/^wycheproof ecdsa-p256: //p' "$out_dir/wycheproof.log")
if [[ $status -ne 0 || $wycheproof != "$wycheproof_runs vectors, $wycheproof_accepted accepted; $wycheproof_runs passed, 0 failed;"* ]]; then
    echo "measure.sh: Wycheproof ECDSA P-256 on the target failed (exit $status):" >&2
    sed 's/^/    /' "$out_dir/wycheproof.log" >&2
    wycheproof="FAIL: ${wycheproof:-no result}"
    failed=1
fi

# ---------------------------------------------------------------------------
# 4. Cortex-M0+ builds (no run: mps2-an386 is an M4).
# ---------------------------------------------------------------------------
declare -A m0
((${#m0_profiles[@]})) || m0_profiles=("${profiles[@]}")
m0_failed=0
if ((thumbv6m)); then
    echo "== building images (thumbv6m-none-eabi)" >&2
    if rustup target list --installed 2>/dev/null | grep -qx thumbv6m-none-eabi; then
        for p in "${m0_profiles[@]}"; do
            if err=$(build thumbv6m-none-eabi --features "$p" 2>&1); then
                e=$(elf_of thumbv6m-none-eabi)
                m0[$p]="builds (.text $(section "$e" .text), .rodata $(section "$e" .rodata))"
            else
                m0[$p]="FAILS: $(grep -m1 '^error' <<<"$err" || echo "${err%%$'\n'*}")"
                m0_failed=1
            fi
        done
    else
        for p in "${m0_profiles[@]}"; do m0[$p]="not built (rustup target add thumbv6m-none-eabi)"; done
        m0_failed=1
    fi
fi

# ---------------------------------------------------------------------------
# 5. Report.
# ---------------------------------------------------------------------------
echo
echo "thumbv7em-none-eabihf, opt-level z, LTO, codegen-units 1, panic abort, sha2 compact; QEMU mps2-an386."
echo "Baseline (the same harness, verifier call stubbed): .text $base_text, .rodata $base_rodata bytes;"
echo "empty image (runtime only, for reference): .text $empty_text, .rodata $empty_rodata bytes."
echo "Bytes. verifier flash = .text + .rodata - baseline; anchors = trust material in flash;"
echo "static RAM = .data + .bss (includes the verifier buffer and a 4 KiB chunk buffer);"
echo "peak stack by painting (max of the genuine and tampered runs); payload 32 KiB."
echo
echo "| profile | .text | .rodata | verifier flash | anchors | static RAM | peak stack | buffer used / size | envelope | verifier struct | verdicts |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "Wycheproof ECDSA P-256 (SHA-256, P1363) on the target, otaseal-verify's thumbv7em backend: $wycheproof"
if ((thumbv6m)); then
    echo
    echo "thumbv6m-none-eabi (Cortex-M0+), build only:"
    for p in "${m0_profiles[@]}"; do echo "- $p: ${m0[$p]}"; done
fi

if ((frames > 0)); then
    for p in "${profiles[@]}"; do
        # Frame sizes need nightly's -Z emit-stack-sizes: a separate build.
        sized=$fw_target/stack-sizes
        (cd "$here" && CARGO_TARGET_DIR=$sized OTASEAL_FW_PACKAGES=$pkg_dir \
            RUSTFLAGS="-C link-arg=-Tlink.x --cfg sha2_backend_soft=\"compact\" -Z emit-stack-sizes" \
            cargo +nightly build -q --release --target thumbv7em-none-eabihf --features "$p") ||
            die "nightly build of $p for stack sizes failed"
        echo
        echo "== $p: largest stack frames (-Z emit-stack-sizes), bytes"
        python3 "$here/frames.py" "$sized/thumbv7em-none-eabihf/release/otaseal-firmware-example" --top "$frames"
        echo "== $p: largest flash users (.text/.rodata), bytes"
        python3 "$here/frames.py" "$out_dir/$p.elf" --top "$frames" --flash
    done
fi

for b in "${budgets[@]}"; do
    key=${b%%=*}
    limit=${b#*=}
    [[ -n ${metric[$key]+x} ]] || die "unknown budget $b (PROFILE.flash|stack|ram|buffer=BYTES)"
    if ((metric[$key] > limit)); then
        echo "BUDGET EXCEEDED: $key = ${metric[$key]} > $limit"
        failed=1
    else
        echo "budget ok: $key = ${metric[$key]} <= $limit"
    fi
done
if ((m0_failed)); then
    echo "thumbv6m-none-eabi: a profile did not build (see above)"
    failed=1
fi
exit "$failed"
