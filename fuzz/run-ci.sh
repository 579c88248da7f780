#!/usr/bin/env bash
# Builds every fuzz target once, replays the saved regressions, seeds the
# corpora from the golden packages, runs each target for a bounded time and
# fails on any crash, leak, timeout or out-of-memory. Prints the executions
# per target as a table.
#
#   fuzz/run-ci.sh [TARGET...]          (default: every target)
#
# Environment:
#   FUZZ_SECONDS       seconds per target (default 20)
#   FUZZ_CORPUS        corpus root (default fuzz/corpus; kept between runs,
#                      so a long run resumes from what earlier runs found)
#   CARGO_TARGET_DIR   build directory (default fuzz/target)
# Needs: a nightly toolchain and `cargo install cargo-fuzz --locked`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
seconds=${FUZZ_SECONDS:-20}
corpus=${FUZZ_CORPUS:-$here/corpus}
target_dir=${CARGO_TARGET_DIR:-$here/target}
logs=$here/logs
mkdir -p "$logs"

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# `cargo fuzz build TARGET` takes one target; build them all in one go
# (one cargo invocation, so the shared crates compile once) unless the list
# was narrowed.
if [ $# -eq 0 ]; then
    cargo +nightly fuzz build --target-dir "$target_dir"
else
    for t in "${targets[@]}"; do cargo +nightly fuzz build --target-dir "$target_dir" "$t"; done
fi
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin_dir=$target_dir/$triple/release

python3 "$here/seed.py" "$corpus" > /dev/null

failed=()
rows=()
for t in "${targets[@]}"; do
    bin=$bin_dir/$t
    # Saved crashes first: each must now run clean.
    shopt -s nullglob
    regressions=("$here"/regressions/"$t"-*)
    shopt -u nullglob
    if [ ${#regressions[@]} -gt 0 ]; then
        if ! "$bin" "${regressions[@]}" > "$logs/$t.regressions.log" 2>&1; then
            echo "FAIL $t: a saved regression crashes again (see $logs/$t.regressions.log)"
            failed+=("$t")
            continue
        fi
    fi
    mkdir -p "$corpus/$t" "$here/artifacts/$t"
    # The package inputs hold whole golden packages (up to ~150 KiB).
    max_len=()
    case $t in package) max_len=(-max_len=262144) ;; esac
    status=ok
    if ! "$bin" "$corpus/$t" \
        -max_total_time="$seconds" \
        -timeout=30 \
        -rss_limit_mb=2048 \
        -print_final_stats=1 \
        -artifact_prefix="$here/artifacts/$t/" \
        "${max_len[@]}" > "$logs/$t.log" 2>&1; then
        status=CRASH
        failed+=("$t")
        echo "FAIL $t: see $logs/$t.log and $here/artifacts/$t/"
        grep -m 5 -E 'panicked|ERROR: libFuzzer|SUMMARY' "$logs/$t.log" || true
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -n 1)
    if [ -z "$execs" ]; then
        execs=$(grep -oE '^#[0-9]+' "$logs/$t.log" | tail -n 1 | tr -d '#')
    fi
    cov=$(grep -oE 'cov: [0-9]+' "$logs/$t.log" | tail -n 1 | cut -d' ' -f2)
    rows+=("$(printf '%-18s %12s %9s %8s %6s' "$t" "${execs:-0}" "${seconds}s" "${cov:-?}" "$status")")
done

printf '%-18s %12s %9s %8s %6s\n' target executions time coverage result
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing failed: ${failed[*]}"
    exit 1
fi
