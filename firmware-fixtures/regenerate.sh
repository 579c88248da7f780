#!/usr/bin/env bash
# Regenerates everything under firmware-fixtures/: samples, unsafe archives,
# golden packages and golden/expected.json, and (with --new-pki, or when they
# are missing) the throwaway PKIs.
#
#   bash firmware-fixtures/regenerate.sh            # keep the committed PKIs
#   bash firmware-fixtures/regenerate.sh --new-pki  # also make new throwaway PKIs
#   OTASEAL=/path/to/otaseal bash firmware-fixtures/regenerate.sh   # prebuilt binary
#
# Needs bash, python3 (standard library only) and either cargo or $OTASEAL.
# No network, no tar/gzip/zip commands. Runnable from any directory.
#
# Deterministic: the samples and unsafe archives are byte-identical on every
# run (fixed content from SHA-256 counter streams, fixed mtimes and owners,
# archives written by python3 without zlib). Packages use a fixed --created,
# so packages signed only by deterministic suites (ECDSA and SM2 with RFC 6979
# nonces, Ed25519) come out byte-identical too; RSA-PSS and ML-DSA signatures
# are randomized, so packages carrying them (all-suites, p256-mldsa65-hybrid)
# differ on every regeneration, and RFC 3161 tokens carry the TSA's clock and
# serial, so timestamped-p256-sm2 too (manifests and payload digests stay the
# same; README.md lists the byte-identical files, tests/tests/
# fixtures_regenerate.rs checks it). --new-pki changes every key and
# certificate, and thus every package.
#
# EVERY KEY UNDER firmware-fixtures/ IS A THROWAWAY TEST KEY.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

# Fixed times. The PKIs must be valid from before CREATED until after AT
# (checked below): after `--new-pki` on a later date, move these forward.
CREATED=2026-12-01T00:00:00Z         # manifest `created` and tar mtimes of every package
AT=2027-06-01T00:00:00Z              # the fixed `verify --at` of every golden case
EXPIRES_OK=2030-01-01T00:00:00Z      # expiry of p256-sm2.ota (after AT)
EXPIRES_PAST=2027-03-01T00:00:00Z    # expiry of expired-manifest.ota (before AT)
BEFORE_EXPIRY=2027-02-01T00:00:00Z   # an --at at which expired-manifest.ota is still fine
SAMPLE_MTIME=2026-11-01T00:00:00Z    # mtime of every entry inside the sample archives

NEW_PKI=0
for arg in "$@"; do
    case "$arg" in
        --new-pki) NEW_PKI=1 ;;
        -h | --help)
            sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "regenerate.sh: unknown argument $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

command -v python3 >/dev/null || {
    echo "regenerate.sh: python3 is required" >&2
    exit 2
}

if [[ -z ${OTASEAL:-} ]]; then
    # Build once (`cargo run --release -q -p otaseal-cli` without the run) and
    # use that binary for every step, so a source edit during the run cannot
    # trigger a rebuild half way through.
    OTASEAL=$(cargo build --release -q --manifest-path "$ROOT/Cargo.toml" -p otaseal-cli \
        --bin otaseal --message-format=json-render-diagnostics |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])')
fi
# A relative path or a bare command name still works after the cd below.
if [[ $OTASEAL == */* ]]; then
    OTASEAL=$(cd "$(dirname "$OTASEAL")" && pwd)/$(basename "$OTASEAL")
else
    OTASEAL=$(command -v "$OTASEAL" || true)
fi
[[ -n $OTASEAL && -x $OTASEAL ]] || {
    echo "regenerate.sh: no otaseal binary at '$OTASEAL'" >&2
    exit 2
}
otaseal() { "$OTASEAL" "$@"; }

cd "$HERE"

# ---------------------------------------------------------------------------
# Shared python helpers (written to a temporary module).
# ---------------------------------------------------------------------------
TMP=$(mktemp -d)
# One exit trap for everything: temporary files, and the loopback TSAs of
# step 3 if the script stops while they run.
TSA_PIDS=()
TSA_TMP=
cleanup() {
    ((${#TSA_PIDS[@]})) && kill "${TSA_PIDS[@]}" 2>/dev/null
    rm -rf "$TMP" "$HERE/golden.new" ${TSA_TMP:+"$TSA_TMP"}
}
trap cleanup EXIT
cat >"$TMP/fixtures.py" <<'PY'
"""Deterministic archive writers and package mutators for regenerate.sh."""
import calendar
import hashlib
import io
import json
import struct
import sys
import tarfile
import time
import warnings
import zipfile
import zlib


def epoch(rfc3339):
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


def stream(label, size):
    """`size` deterministic pseudo-random bytes: SHA-256(label || counter)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(label.encode() + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:size])


# ---- tar -------------------------------------------------------------------

class Tar:
    """A ustar archive with fixed owners and mtimes, in memory."""

    def __init__(self, mtime):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.USTAR_FORMAT)
        self.mtime = mtime

    def _info(self, name, kind, mode):
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = mode
        ti.mtime = self.mtime
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    def dir(self, name, mode=0o755):
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode))
        return self

    def file(self, name, data, mode=0o644):
        ti = self._info(name, tarfile.REGTYPE, mode)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))
        return self

    def symlink(self, name, target):
        ti = self._info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.tar.addfile(ti)
        return self

    def hardlink(self, name, target):
        ti = self._info(name, tarfile.LNKTYPE, 0o644)
        ti.linkname = target
        self.tar.addfile(ti)
        return self

    def chardev(self, name, major, minor):
        ti = self._info(name, tarfile.CHRTYPE, 0o600)
        ti.devmajor, ti.devminor = major, minor
        self.tar.addfile(ti)
        return self

    def bytes(self):
        self.tar.close()  # end blocks, padded to a 10240-byte record
        return self.buf.getvalue()


def gzip_stored(data):
    """A gzip member whose deflate stream uses only stored blocks: the bytes
    do not depend on the zlib build (zlib, zlib-ng, ...), and gunzip reads it."""
    out = bytearray(b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + b"\x00\xff")
    blocks = [data[i:i + 65535] for i in range(0, len(data), 65535)] or [b""]
    for i, block in enumerate(blocks):
        out.append(1 if i == len(blocks) - 1 else 0)  # BFINAL, BTYPE=00
        out += struct.pack("<HH", len(block), 0xFFFF ^ len(block))
        out += block
    out += struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return bytes(out)


# ---- zip -------------------------------------------------------------------

S_IFREG, S_IFDIR, S_IFLNK = 0o100000, 0o040000, 0o120000


def zip_bytes(entries, mtime):
    """entries: (name, unix mode incl. file type, data); all stored, fixed times."""
    date_time = time.gmtime(mtime)[:6]
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name" is the point of duplicate.zip
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for name, mode, data in entries:
                zi = zipfile.ZipInfo(name, date_time)
                zi.create_system = 3  # unix, whatever the host
                zi.external_attr = (mode << 16) | (0x10 if mode & 0o170000 == S_IFDIR else 0)
                zi.compress_type = zipfile.ZIP_STORED
                z.writestr(zi, data)
    return buf.getvalue()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


# ---- samples ---------------------------------------------------------------

def make_samples(outdir, mtime_rfc):
    mtime = epoch(mtime_rfc)
    header = b"ACMEFW\x00\x01" + b"acme.router-x1\x00\x00" + b"4.2.0\x00\x00\x00" + bytes(32 - 8)
    fw = header[:64].ljust(64, b"\x00") + stream("otaseal fixture firmware.bin", 65536 - 64)
    write(f"{outdir}/firmware.bin", fw)

    os_release = (b'NAME="Acme Router OS"\nVERSION_ID=4.2.0\nID=acme\n'
                  b"# otaseal test fixture, not a real root file system\n")
    t = (Tar(mtime)
         .dir("etc/")
         .file("etc/os-release", os_release)
         .file("etc/hostname", b"acme-router\n")
         .dir("usr/")
         .dir("usr/bin/")
         .file("usr/bin/acme-agent", stream("otaseal fixture acme-agent", 6000), 0o755)
         .dir("usr/lib/")
         .file("usr/lib/libacme.so.1", stream("otaseal fixture libacme", 3000))
         .symlink("usr/lib/libacme.so", "libacme.so.1")
         .symlink("bin", "usr/bin")
         .dir("var/")
         .dir("var/lib/")
         .file("var/lib/.keep", b""))
    write(f"{outdir}/rootfs.tar.gz", gzip_stored(t.bytes()))

    app = zip_bytes([
        ("app/", S_IFDIR | 0o755, b""),
        ("app/manifest.json", S_IFREG | 0o644,
         b'{"name": "acme-app", "version": "1.0.3", "fixture": true}\n'),
        ("app/bin/", S_IFDIR | 0o755, b""),
        ("app/bin/acme-app", S_IFREG | 0o755, stream("otaseal fixture acme-app", 4096)),
        ("app/lib/libplugin.so", S_IFREG | 0o644, stream("otaseal fixture libplugin", 2048)),
        ("app/README.txt", S_IFREG | 0o644, b"Sample application bundle for otaseal tests.\n"),
    ], mtime)
    write(f"{outdir}/app.zip", app)


# ---- unsafe archives ---------------------------------------------------------

def make_unsafe(outdir, mtime_rfc):
    mtime = epoch(mtime_rfc)
    cases = []

    def case(file, data, entry, reason, note):
        write(f"{outdir}/{file}", data)
        cases.append({"file": file, "entry": entry, "reason": reason, "note": note})

    travel = "path leaves the archive (..)"
    case("dotdot.tar",
         Tar(mtime).dir("etc/").file("etc/hosts", b"127.0.0.1 localhost\n")
         .file("../etc/passwd", b"root::0:0::/root:/bin/sh\n").bytes(),
         "../etc/passwd", travel, "tar entry climbing out with ..")
    case("absolute.tar.gz",
         gzip_stored(Tar(mtime).file("usr/bin/tool", b"#!/bin/sh\n")
                     .file("/etc/shadow", b"root::1:0:99999:7:::\n").bytes()),
         "/etc/shadow", "absolute path", "tar.gz entry with an absolute path")
    case("symlink-escape.tar.gz",
         gzip_stored(Tar(mtime).dir("etc/").symlink("etc/outside", "../../outside").bytes()),
         "etc/outside", 'link target "../../outside" leaves the archive',
         "symlink whose target resolves outside the extraction root")
    case("hardlink-escape.tar",
         Tar(mtime).file("a", b"x").hardlink("etc-passwd", "../etc/passwd").bytes(),
         "etc-passwd", 'link target "../etc/passwd" leaves the archive',
         "hard link to a file outside the archive")
    case("device.tar",
         Tar(mtime).dir("dev/").chardev("dev/console", 5, 1).bytes(),
         "dev/console", "device node or FIFO", "character device node")
    # One tar stream split over two gzip members: `gunzip` (and the device)
    # sees both; a single-member gzip reader would only see the harmless first.
    smuggled = Tar(mtime).file("readme.txt", b"harmless\n").file("../evil", b"x").bytes()
    case("multi-member.tar.gz",
         gzip_stored(smuggled[:1024]) + gzip_stored(smuggled[1024:]),
         "../evil", travel, "second gzip member hides a .. entry")
    case("duplicate.zip",
         zip_bytes([("app/config.txt", S_IFREG | 0o644, b"a=1\n"),
                    ("app/config.txt", S_IFREG | 0o644, b"a=2\n")], mtime),
         "app/config.txt", "duplicate name", "same name twice: extractors disagree on which wins")
    case("dotdot.zip",
         zip_bytes([("ok.txt", S_IFREG | 0o644, b"ok\n"),
                    ("../evil", S_IFREG | 0o644, b"x\n")], mtime),
         "../evil", travel, "zip entry climbing out with ..")
    case("absolute.zip",
         zip_bytes([("ok.txt", S_IFREG | 0o644, b"ok\n"),
                    ("/etc/evil", S_IFREG | 0o644, b"x\n")], mtime),
         "/etc/evil", "absolute path", "zip entry with an absolute path")
    case("symlink-escape.zip",
         zip_bytes([("lib/", S_IFDIR | 0o755, b""),
                    ("lib/escape", S_IFLNK | 0o777, b"../../outside")], mtime),
         "lib/escape", 'link target "../../outside" leaves the archive',
         "zip symlink (unix mode) resolving outside the root")
    with open(f"{outdir}/expected.json", "w") as f:
        json.dump({
            "comment": "Each file must be refused by `otaseal sign` with exit status 2 and "
                       "the message `unsafe entry \"ENTRY\" in PATH: REASON`.",
            "archives": cases,
        }, f, indent=2)
        f.write("\n")


# ---- minimal deterministic CBOR walker ---------------------------------------

def cbor_head(b, i):
    """(major type, argument, offset after the head) of the item at i."""
    ib = b[i]
    major, ai = ib >> 5, ib & 31
    i += 1
    if ai < 24:
        return major, ai, i
    n = {24: 1, 25: 2, 26: 4, 27: 8}.get(ai)
    if n is None:
        raise ValueError(f"indefinite or reserved CBOR head at {i - 1}")
    return major, int.from_bytes(b[i:i + n], "big"), i + n


def cbor_end(b, i):
    """Offset just after the complete item starting at i."""
    major, arg, i = cbor_head(b, i)
    if major in (0, 1, 7):
        return i
    if major in (2, 3):
        return i + arg
    if major == 4:
        for _ in range(arg):
            i = cbor_end(b, i)
        return i
    if major == 5:
        for _ in range(2 * arg):
            i = cbor_end(b, i)
        return i
    return cbor_end(b, i)  # 6: tag, then the tagged item


def cbor_encode_head(major, arg):
    """Shortest-form head (RFC 8949 section 4.2.1)."""
    if arg < 24:
        return bytes([major << 5 | arg])
    for ai, n in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if arg < 1 << (8 * n):
            return bytes([major << 5 | ai]) + arg.to_bytes(n, "big")
    raise ValueError("argument too large")


def split_envelope(env):
    """envelope = [version, manifest bstr, [+ COSE_Sign1]] -> (prefix, [signature items])."""
    major, n, i = cbor_head(env, 0)
    assert (major, n) == (4, 3), "envelope is not a 3-element array"
    i = cbor_end(env, i)  # version
    i = cbor_end(env, i)  # manifest bstr
    prefix = env[:i]
    major, count, i = cbor_head(env, i)
    assert major == 4, "signatures is not an array"
    sigs = []
    for _ in range(count):
        end = cbor_end(env, i)
        sigs.append(env[i:end])
        i = end
    assert i == len(env), "bytes after the envelope"
    return prefix, sigs


# ---- package (ustar) surgery -------------------------------------------------

BLOCK = 512


def pad(n):
    return (n + BLOCK - 1) // BLOCK * BLOCK


def header_size(h):
    return int(h[124:135], 8)


def with_size(h, size):
    h = bytearray(h)
    h[124:136] = b"%011o\x00" % size
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\x00 " % sum(h)
    return bytes(h)


def strip_signature(src, dst, index):
    """Removes signature `index` and re-encodes envelope and container exactly
    as the signer would have (only the manifest's `signers` still lists it)."""
    pkg = open(src, "rb").read()
    h = pkg[:BLOCK]
    assert h[:22] == b"otaseal-envelope.cbor\x00"
    size = header_size(h)
    env = pkg[BLOCK:BLOCK + size]
    rest = pkg[BLOCK + pad(size):]
    prefix, sigs = split_envelope(env)
    del sigs[index]
    new_env = prefix + cbor_encode_head(4, len(sigs)) + b"".join(sigs)
    out = with_size(h, len(new_env)) + new_env + bytes(pad(len(new_env)) - len(new_env)) + rest
    write(dst, out)


def flip_payload_byte(src, dst, payload_name):
    """Flips one bit in the middle of the named payload's data."""
    pkg = bytearray(open(src, "rb").read())
    off = 0
    while True:
        h = pkg[off:off + BLOCK]
        if not any(h):
            raise SystemExit(f"{src}: no payload named {payload_name}")
        name = h[:100].rstrip(b"\x00").decode()
        size = header_size(h)
        if name == payload_name:
            pkg[off + BLOCK + size // 2] ^= 0x01
            write(dst, bytes(pkg))
            return
        off += BLOCK + pad(size)


# ---- certificate validity (minimal DER walk) --------------------------------

def der_tlv(b, i):
    tag = b[i]
    n = b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    return tag, i, i + n  # tag, content start, content end


def der_time(tag, raw):
    s = raw.decode()
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(s[:2])
        s = ("19" if year >= 50 else "20") + s
    return calendar.timegm(time.strptime(s, "%Y%m%d%H%M%SZ"))


def cert_validity(pem_path):
    """(not_before, not_after) of every certificate in a PEM file."""
    import base64
    text = open(pem_path).read()
    out = []
    for block in text.split("-----BEGIN CERTIFICATE-----")[1:]:
        der = base64.b64decode(block.split("-----END CERTIFICATE-----")[0])
        _, i, _ = der_tlv(der, 0)          # Certificate
        _, i, _ = der_tlv(der, i)          # tbsCertificate
        if der[i] == 0xA0:                 # [0] version
            i = der_tlv(der, i)[2]
        for _ in range(3):                 # serial, signature, issuer
            i = der_tlv(der, i)[2]
        _, i, _ = der_tlv(der, i)          # validity
        t1, s1, e1 = der_tlv(der, i)
        t2, s2, e2 = der_tlv(der, e1)
        out.append((der_time(t1, der[s1:e1]), der_time(t2, der[s2:e2])))
    return out


def check_validity(created, at, pems):
    lo, hi = epoch(created), epoch(at)
    for pem in pems:
        for nb, na in cert_validity(pem):
            if not (nb <= lo and hi <= na):
                fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
                raise SystemExit(
                    f"{pem}: certificate valid {fmt(nb)} .. {fmt(na)} does not cover "
                    f"CREATED={created} .. AT={at}; move CREATED/AT in regenerate.sh forward")


# ---- golden self-check -------------------------------------------------------

def check_golden(expected_path, otaseal, staging):
    """Runs every case, with golden/ read from `staging`."""
    import subprocess
    spec = json.load(open(expected_path))
    failures = []
    for case in spec["cases"]:
        file = staging + case["file"][len("golden"):]
        cmd = [otaseal, "verify", file] + case["args"] + ["--json"]
        run = subprocess.run(cmd, capture_output=True, text=True)
        try:
            got = json.loads(run.stdout)
        except ValueError:
            got = {}
        seen = (got.get("verdict"), got.get("code"), run.returncode)
        want = (case["verdict"], case["code"], case["exit"])
        if seen != want:
            failures.append(f"  {case['name']}: expected {want}, got {seen}\n{run.stderr}")
        else:
            print(f"  {case['name']:<28} {case['verdict']:<9} {case['code']}")
    if failures:
        raise SystemExit("golden self-check failed:\n" + "\n".join(failures))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "samples":
        make_samples(*args)
    elif cmd == "unsafe":
        make_unsafe(*args)
    elif cmd == "strip-signature":
        strip_signature(args[0], args[1], int(args[2]))
    elif cmd == "flip-payload-byte":
        flip_payload_byte(*args)
    elif cmd == "check-validity":
        check_validity(args[0], args[1], args[2:])
    elif cmd == "check-golden":
        check_golden(args[0], args[1], args[2])
    else:
        raise SystemExit(f"unknown helper command {cmd}")
PY
py() { python3 "$TMP/fixtures.py" "$@"; }

# ---------------------------------------------------------------------------
# 1. Samples and unsafe archives (byte-identical on every run).
# ---------------------------------------------------------------------------
echo "== samples/ and unsafe/"
rm -rf samples unsafe
mkdir -p samples unsafe
py samples samples "$SAMPLE_MTIME"
py unsafe unsafe "$SAMPLE_MTIME"

# ---------------------------------------------------------------------------
# 2. Throwaway PKIs (kept unless --new-pki or missing).
# ---------------------------------------------------------------------------
if [[ $NEW_PKI == 1 || ! -f pki/roots.pem ]]; then
    echo "== pki/ (all suites, THROWAWAY)"
    rm -rf pki
    otaseal pki init --dir pki --days 3650 >/dev/null
fi
if [[ $NEW_PKI == 1 || ! -f pki-other/roots.pem ]]; then
    echo "== pki-other/ (ecdsa-p256, unrelated, THROWAWAY)"
    rm -rf pki-other
    otaseal pki init --dir pki-other --suites ecdsa-p256 --days 3650 >/dev/null
fi
py check-validity "$CREATED" "$AT" pki/*/signer.chain.pem pki/roots.pem pki-other/roots.pem

# ---------------------------------------------------------------------------
# 3. Golden packages.
# ---------------------------------------------------------------------------
# Packages are written to golden.new/ and replace golden/ only once they all
# passed the self-check; a failed run leaves the committed golden/ alone.
echo "== golden/"
rm -rf golden.new
mkdir golden.new

SUITES=(ecdsa-p256 ecdsa-p384 ed25519 rsa-pss-3072 sm2 ml-dsa-44 ml-dsa-65 ml-dsa-87)
x509() { echo "key=pki/$1/signer.key.pem,cert=pki/$1/signer.chain.pem"; }
sign() {
    local out=$1
    shift
    otaseal sign --out "golden.new/$out" --product acme.router-x1 --created "$CREATED" "$@" >/dev/null
}
FW=samples/firmware.bin
ALL_SAMPLES=(samples/firmware.bin samples/rootfs.tar.gz samples/app.zip)

sign p256-sm2.ota --version 4.2.0 --security-version 12 --hw-compat acme-rev-a,acme-rev-b \
    --expires "$EXPIRES_OK" --chunk-log2 12 \
    --signer "$(x509 ecdsa-p256)" --signer "$(x509 sm2)" \
    --target firmware.bin=slot:boot --target rootfs.tar.gz=slot:rootfs \
    "${ALL_SAMPLES[@]}"

sign p256-mldsa65-hybrid.ota --version 4.2.0 --security-version 12 --hw-compat acme-rev-a \
    --signer "$(x509 ecdsa-p256)" --signer "$(x509 ml-dsa-65)" "$FW"

all_signers=()
for s in "${SUITES[@]}"; do all_signers+=(--signer "$(x509 "$s")"); done
sign all-suites.ota --version 4.2.0 --security-version 12 --hw-compat acme-rev-a,acme-rev-b \
    --chunk-log2 14 --digest sha-384,sha-512 "${all_signers[@]}" "${ALL_SAMPLES[@]}"

sign sm2-only.ota --version 4.2.0-cn --security-version 12 --hw-compat acme-rev-a \
    --signer "$(x509 sm2)" samples/firmware.bin samples/rootfs.tar.gz

sign raw-key-ed25519.ota --version 4.2.0 --security-version 12 --hw-compat acme-rev-a \
    --signer key=pki/ed25519/signer.key.pem "$FW"

sign expired-manifest.ota --version 4.1.9 --security-version 11 --hw-compat acme-rev-a \
    --expires "$EXPIRES_PAST" --signer "$(x509 ecdsa-p256)" "$FW"

sign wrong-hw.ota --version 4.2.0 --security-version 12 --hw-compat acme-rev-c \
    --signer "$(x509 ecdsa-p256)" "$FW"

# Timestamped: one loopback TSA per family (serials kept outside the repo).
TSA_TMP=$(mktemp -d)
# start_tsa SUITE VAR: starts the server in this shell (not in a $(...)
# subshell, so its pid is recorded for the exit trap) and sets VAR to its URL.
start_tsa() {
    local log="$TSA_TMP/$1.log"
    # The binary itself, not the `otaseal` function: a backgrounded function
    # is a subshell, and killing its pid would leave the server running.
    "$OTASEAL" tsa serve --listen 127.0.0.1:0 --key "pki/$1/tsa.key.pem" --cert "pki/$1/tsa.chain.pem" \
        --serial-store "$TSA_TMP/$1.serials" >"$log" 2>/dev/null &
    TSA_PIDS+=($!)
    for _ in $(seq 100); do
        grep -q listening "$log" 2>/dev/null && break
        sleep 0.1
    done
    printf -v "$2" '%s' "$(awk '/listening/{print $NF}' "$log")"
    [ -n "${!2}" ] || { echo "TSA for $1 did not start" >&2; exit 1; }
}
stop_tsas() {
    kill "${TSA_PIDS[@]}" 2>/dev/null || true
    wait "${TSA_PIDS[@]}" 2>/dev/null || true
    TSA_PIDS=()
}
start_tsa ecdsa-p256 TSA_P256
start_tsa sm2 TSA_SM2
sign timestamped-p256-sm2.ota --version 4.2.0 --security-version 12 --hw-compat acme-rev-a \
    --signer "$(x509 ecdsa-p256),tsa=$TSA_P256" --signer "$(x509 sm2),tsa=$TSA_SM2" "$FW"
stop_tsas

py flip-payload-byte golden.new/p256-sm2.ota golden.new/tampered-payload.ota firmware.bin
# Signature 1 of the hybrid is ml-dsa-65 (signatures follow the --signer order).
py strip-signature golden.new/p256-mldsa65-hybrid.ota golden.new/stripped-signature.ota 1

# ---------------------------------------------------------------------------
# 4. golden/expected.json: paths are relative to firmware-fixtures/.
# ---------------------------------------------------------------------------
CREATED="$CREATED" AT="$AT" BEFORE_EXPIRY="$BEFORE_EXPIRY" python3 - <<'PY'
import json, os
at, before = os.environ["AT"], os.environ["BEFORE_EXPIRY"]
roots = ["--trust", "pki/roots.pem"]

def case(name, file, args, verdict, code, about, at_time=at):
    return {
        "name": name,
        "file": "golden/" + file,
        "args": args + ["--at", at_time],
        "verdict": verdict,
        "code": code,
        "exit": 0 if verdict == "accepted" else 1,
        "about": about,
    }

cases = [
    case("p256-sm2", "p256-sm2.ota",
         roots + ["--hw-id", "acme-rev-a", "--min-security-version", "12"],
         "accepted", "ok", "ECDSA P-256 + SM2 with certificate chains, three payloads "
         "(raw, tar.gz, zip), 4 KiB chunks, install targets, expiry in 2030"),
    case("p256-mldsa65-hybrid", "p256-mldsa65-hybrid.ota",
         roots + ["--require", "ecdsa-p256+ml-dsa-65"],
         "accepted", "ok", "classical + post-quantum hybrid; both required"),
    case("all-suites", "all-suites.ota", roots + ["--digest", "all"],
         "accepted", "ok", "signed by all 8 suites in order, all four digest families, "
         "16 KiB chunks; strict default policy"),
    case("sm2-only", "sm2-only.ota",
         ["--trust", "pki/sm2/root.cert.pem", "--require", "sm2", "--digest", "sm3"],
         "accepted", "ok", "SM2 only, checked against the SM2 root alone with SM3 digests"),
    case("raw-key-ed25519", "raw-key-ed25519.ota",
         ["--trust-key", "pki/ed25519/signer.pub.pem"],
         "accepted", "ok", "Ed25519 raw key (no certificate), trusted with --trust-key"),
    case("expired-manifest-before-expiry", "expired-manifest.ota", roots,
         "accepted", "ok", "the expiring package, verified before its expiry", before),
    case("expired-manifest", "expired-manifest.ota", roots,
         "rejected", "manifest-expired", "expires " + "2027-03-01T00:00:00Z" + ", verified after"),
    case("wrong-hw", "wrong-hw.ota", roots + ["--hw-id", "acme-rev-a"],
         "rejected", "hw-incompatible", "built for acme-rev-c, device is acme-rev-a"),
    case("rollback", "p256-sm2.ota", roots + ["--hw-id", "acme-rev-a", "--min-security-version", "13"],
         "rejected", "rollback", "security version 12 below the device floor 13"),
    case("tampered-payload", "tampered-payload.ota", roots,
         "rejected", "payload-digest-mismatch",
         "p256-sm2.ota with one bit flipped in the middle of firmware.bin"),
    case("stripped-signature", "stripped-signature.ota", roots + ["--require", "ecdsa-p256"],
         "rejected", "signature-missing",
         "p256-mldsa65-hybrid.ota with the ML-DSA-65 signature removed and the envelope and "
         "container re-encoded canonically; rejected even when only ecdsa-p256 is required"),
    case("timestamped-after-expiry", "timestamped-p256-sm2.ota",
         roots + ["--tsa-trust", "pki/tsa-roots.pem", "--require-timestamp"],
         "accepted", "ok", "ECDSA P-256 + SM2, each with an RFC 3161 token from a TSA of its "
         "family; verified in 2040, after every certificate expired: checked at genTime",
         "2040-01-01T00:00:00Z"),
    case("untimestamped-after-expiry", "p256-sm2.ota", roots,
         "rejected", "cert-expired", "the same kind of package without timestamps, in 2040",
         "2040-01-01T00:00:00Z"),
    case("timestamp-untrusted-tsa", "timestamped-p256-sm2.ota", roots,
         "rejected", "timestamp-untrusted",
         "timestamped package verified without --tsa-trust: a present token is never ignored"),
    # pki init names each root after its key id, so pki-other's root is
    # simply not the issuer: no path to a trusted root.
    case("wrong-root", "p256-sm2.ota", ["--trust", "pki-other/roots.pem", "--require", "ecdsa-p256"],
         "rejected", "chain-untrusted",
         "verified against the unrelated pki-other root"),
    case("untrusted-root", "p256-sm2.ota",
         ["--trust", "pki/sm2/root.cert.pem", "--require", "ecdsa-p256"],
         "rejected", "chain-untrusted",
         "ecdsa-p256 required but only the SM2 root trusted: no path to a trusted root"),
]
doc = {
    "comment": "Golden verification cases. From firmware-fixtures/, run "
               "`otaseal verify FILE ARGS... --json`: the JSON `verdict` and `code` and the "
               "exit status must be as listed. Every case passes a fixed --at inside the "
               "certificates' validity. Regenerate with `bash firmware-fixtures/regenerate.sh`.",
    "created": os.environ["CREATED"],
    "cases": cases,
}
with open("golden.new/expected.json", "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
PY

# ---------------------------------------------------------------------------
# 5. Self-check: every case gives the expected verdict.
# ---------------------------------------------------------------------------
echo "== checking golden.new/expected.json"
py check-golden golden.new/expected.json "$OTASEAL" golden.new
for f in unsafe/*.tar unsafe/*.tar.gz unsafe/*.zip; do
    rc=0
    otaseal sign --out "$TMP/unsafe.ota" --product x --version 1 --security-version 1 \
        --hw-compat x --signer key=pki/ecdsa-p256/signer.key.pem "$f" >/dev/null 2>&1 || rc=$?
    if [[ $rc != 2 ]]; then
        echo "regenerate.sh: otaseal sign $f exited $rc, expected 2 (refused)" >&2
        exit 1
    fi
done
echo "  every unsafe/ archive refused by otaseal sign (exit 2)"
rm -rf golden
mv golden.new golden
echo "done: $( (du -sh --apparent-size "$HERE" 2>/dev/null || du -sh "$HERE") | cut -f1) in $HERE"
