#!/usr/bin/env python3
"""Sign/verify throughput and peak memory of `otaseal`, against `openssl dgst`.

Usage: python3 benches/bench.py [--size-mib 1024] [--runs 3] [--keep DIR]

Everything runs in one script on the same file, so the ratios compare like with
like on a noisy machine: each timing is the best of --runs runs. Peak RSS is
ru_maxrss of the child process (os.wait4), in MiB.

Targets (issue 2): verify with a SHA-256 policy <= 1.1x `openssl dgst -sha256`;
verify checking SHA-256 and SM3 <= 1.0x `openssl dgst -sm3`; peak RSS <= 16 MiB;
signing <= 1.2x verify (both families, as the signer always computes both).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


GNU_TIME = "/usr/bin/time"


def run(cmd):
    """Runs cmd, returns (seconds, peak RSS MiB, stdout). Exits on failure.

    Peak RSS comes from GNU time (%M): a child's own ru_maxrss would include
    this Python process's RSS at fork time.
    """
    wrapped = [GNU_TIME, "-f", "%M", *cmd] if os.path.exists(GNU_TIME) else cmd
    start = time.perf_counter()
    proc = subprocess.run(wrapped, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout.decode()}\n{proc.stderr.decode()}")
    rss = float("nan")
    if wrapped is not cmd:
        rss = int(proc.stderr.decode().strip().splitlines()[-1]) / 1024.0
    return elapsed, rss, proc.stdout


def best(cmd, runs, before=None):
    results = []
    for _ in range(runs):
        if before:
            before()
        results.append(run(cmd))
    secs = min(r[0] for r in results)
    rss = max(r[1] for r in results)
    return secs, rss


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", help="work directory to use and keep")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "otaseal-cli"], cwd=REPO, check=True)
    otaseal = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "release", "otaseal")
    work = args.keep or tempfile.mkdtemp(prefix="otaseal-bench-")
    os.makedirs(work, exist_ok=True)
    try:
        payload = os.path.join(work, "payload.bin")
        size = args.size_mib << 20
        if not os.path.exists(payload) or os.path.getsize(payload) != size:
            with open(payload, "wb") as f:
                block = os.urandom(1 << 20)
                for i in range(args.size_mib):
                    # Vary blocks cheaply so no two chunks are equal.
                    f.write(i.to_bytes(8, "little") + block[8:])
        pki = os.path.join(work, "pki")
        if not os.path.exists(pki):
            run([otaseal, "pki", "init", "--dir", pki, "--suites", "ecdsa-p256,sm2"])
        signer = lambda s: f"key={pki}/{s}/signer.key.pem,cert={pki}/{s}/signer.chain.pem"
        roots = os.path.join(pki, "roots.pem")
        pkg_p256 = os.path.join(work, "p256.ota")
        pkg_both = os.path.join(work, "p256-sm2.ota")
        common = ["--product", "bench", "--version", "1", "--security-version", "1", "--hw-compat", "x", "--force"]

        # Warm the page cache so every tool reads from memory.
        subprocess.run(["cat", payload], stdout=subprocess.DEVNULL, check=True)

        t_sha, rss_sha = best(["openssl", "dgst", "-sha256", payload], args.runs)
        t_sm3, rss_sm3 = best(["openssl", "dgst", "-sm3", payload], args.runs)

        sign_one = [otaseal, "sign", "--out", pkg_p256, *common, "--signer", signer("ecdsa-p256"), payload]
        sign_two = [otaseal, "sign", "--out", pkg_both, *common, "--signer", signer("ecdsa-p256"), "--signer", signer("sm2"), payload]
        # Delete the previous output outside the timing: replacing a 1 GiB
        # file makes the rename free its blocks, which is not signing work.
        rm = lambda path: (lambda: os.path.exists(path) and os.remove(path))
        t_sign1, rss_sign1 = best(sign_one, args.runs, before=rm(pkg_p256))
        t_sign2, rss_sign2 = best(sign_two, args.runs, before=rm(pkg_both))
        subprocess.run(["cat", pkg_p256, pkg_both], stdout=subprocess.DEVNULL, check=True)

        v_sha = [otaseal, "verify", pkg_p256, "--trust", roots, "--require", "ecdsa-p256"]
        v_both = [otaseal, "verify", pkg_both, "--trust", roots]
        v_sha_only_1core = ["taskset", "-c", "0", *v_sha]
        t_vsha, rss_vsha = best(v_sha, args.runs)
        t_vboth, rss_vboth = best(v_both, args.runs)
        have_taskset = shutil.which("taskset") is not None
        t_v1, rss_v1 = best(v_sha_only_1core, args.runs) if have_taskset else (float("nan"), float("nan"))

        mib = args.size_mib
        rows = [
            ("openssl dgst -sha256", t_sha, rss_sha, ""),
            ("openssl dgst -sm3", t_sm3, rss_sm3, ""),
            ("otaseal verify (SHA-256 policy)", t_vsha, rss_vsha, f"{t_vsha / t_sha:.2f}x openssl sha256 (target <= 1.10)"),
            ("otaseal verify (SHA-256 policy, 1 core)", t_v1, rss_v1, f"{t_v1 / t_sha:.2f}x openssl sha256"),
            ("otaseal verify (SHA-256 + SM3)", t_vboth, rss_vboth, f"{t_vboth / t_sm3:.2f}x openssl sm3 (target <= 1.00)"),
            ("otaseal sign ecdsa-p256 (SHA-256+SM3)", t_sign1, rss_sign1, f"{t_sign1 / t_vboth:.2f}x verify both"),
            ("otaseal sign ecdsa-p256+sm2", t_sign2, rss_sign2, f"{t_sign2 / t_vboth:.2f}x verify both (target <= 1.20)"),
        ]
        print(f"payload {mib} MiB, best of {args.runs} runs, {os.cpu_count()} cores")
        print(f"{'what':<42} {'seconds':>8} {'MiB/s':>8} {'peak RSS MiB':>13}  ratio")
        for name, t, rss, note in rows:
            print(f"{name:<42} {t:8.3f} {mib / t:8.0f} {rss:13.1f}  {note}")
        worst_rss = max(rss_vsha, rss_vboth, rss_sign1, rss_sign2)
        print(f"peak RSS of otaseal: {worst_rss:.1f} MiB (target <= 16)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
