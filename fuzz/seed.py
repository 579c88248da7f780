#!/usr/bin/env python3
"""Builds the fuzz seed corpora from the golden packages and the fixture PKI.

    python3 fuzz/seed.py [CORPUS_DIR]      (default: fuzz/corpus)

Writes one directory per target (see fuzz/Cargo.toml) with inputs in each
target's own format: envelope members, manifests, COSE headers, certificate
paths and RFC 3161 tokens cut out of firmware-fixtures/golden/*.ota, plus
the packages themselves. Only the Python standard library is used: the CBOR
walk below reads the few shapes the envelope has and nothing more (the
targets themselves use the real decoders). Re-running it is idempotent.
"""

import base64
import hashlib
import pathlib
import re
import struct
import sys

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent / "firmware-fixtures"
BLOCK = 512
# cert_path's time field counts from this epoch; 2027-06-01T00:00:00Z is
# inside every fixture certificate's validity (the golden cases' --at).
EPOCH = 1_700_000_000
AT = 1_811_808_000
CHUNK_SEEDS = (0x00000001, 0x12345678, 0xDEADBEEF)


def head(buf, pos):
    """CBOR head at pos: (major type, argument, position after the head)."""
    ib = buf[pos]
    major, info = ib >> 5, ib & 31
    pos += 1
    if info < 24:
        return major, info, pos
    width = {24: 1, 25: 2, 26: 4, 27: 8}[info]
    return major, int.from_bytes(buf[pos:pos + width], "big"), pos + width


def item(buf, pos):
    """Skips one CBOR item; returns the position after it."""
    major, arg, pos = head(buf, pos)
    if major in (2, 3):
        return pos + arg
    if major == 4:
        for _ in range(arg):
            pos = item(buf, pos)
    elif major == 5:
        for _ in range(2 * arg):
            pos = item(buf, pos)
    elif major == 6:
        pos = item(buf, pos)
    return pos


def bstr(buf, pos):
    major, arg, pos = head(buf, pos)
    assert major == 2, "expected a byte string"
    return buf[pos:pos + arg], pos + arg


def integer(buf, pos):
    major, arg, pos = head(buf, pos)
    return (arg if major == 0 else -1 - arg), pos


def split_envelope(env):
    """(manifest, [(protected, unprotected map bytes, chain, token, sig field)])."""
    major, n, pos = head(env, 0)
    assert (major, n) == (4, 3)
    _, pos = integer(env, pos)
    manifest, pos = bstr(env, pos)
    _, count, pos = head(env, pos)
    sigs = []
    for _ in range(count):
        _, _, pos = head(env, pos)  # tag 18
        _, _, pos = head(env, pos)  # array(4)
        protected, pos = bstr(env, pos)
        unprot_start = pos
        _, entries, p = head(env, pos)
        token = None
        for _ in range(entries):
            label, p = integer(env, p)
            if label == 270:
                token, p = bstr(env, p)
            else:
                p = item(env, p)
        unprotected = env[unprot_start:p]
        pos = p + 1  # nil payload
        field_start = pos
        pos = item(env, pos)
        sigs.append((protected, unprotected, chain_of(protected), token, env[field_start:pos]))
    return manifest, sigs


def chain_of(protected):
    _, entries, pos = head(protected, 0)
    for _ in range(entries):
        label, pos = integer(protected, pos)
        if label == 33:
            major, arg, after = head(protected, pos)
            if major == 2:
                return [protected[after:after + arg]]
            certs, pos = [], after
            for _ in range(arg):
                cert, pos = bstr(protected, pos)
                certs.append(cert)
            return certs
        pos = item(protected, pos)
    return []


def pem_certs(path):
    text = path.read_text()
    return [base64.b64decode("".join(b.split()))
            for b in re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)]


def cert_path_input(flags, chain):
    out = bytes([flags]) + struct.pack(">I", AT - EPOCH) + bytes([len(chain) - 1])
    for cert in chain[1:]:
        out += struct.pack(">H", len(cert)) + cert
    return out + chain[0]


def main():
    corpus = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "corpus"
    counts = {}

    def put(target, data):
        d = corpus / target
        d.mkdir(parents=True, exist_ok=True)
        # Content-addressed names, like libFuzzer's own: re-runs add nothing.
        (d / hashlib.sha1(data).hexdigest()).write_bytes(data)
        counts[target] = counts.get(target, 0) + 1

    for ota in sorted((FIXTURES / "golden").glob("*.ota")):
        pkg = ota.read_bytes()
        size = int(pkg[124:135], 8)
        env = pkg[BLOCK:BLOCK + size]
        for selector in (0, 1):
            seed = CHUNK_SEEDS[selector]
            put("package", bytes([selector]) + struct.pack(">I", seed) + pkg)
            put("package_envelope", bytes([selector]) + struct.pack(">I", seed) + env)
        put("container", pkg[:BLOCK])
        put("container", pkg[:4 * BLOCK])
        put("envelope", env)
        manifest, sigs = split_envelope(env)
        put("manifest", manifest)
        for protected, unprotected, chain, token, field in sigs:
            put("cose_headers", b"\x00" + protected)
            put("cose_headers", b"\x01" + unprotected + b"\xf6" + field)
            if chain:
                put("cert_path", cert_path_input(0, chain))
            if token:
                for alg in range(4):
                    put("timestamp", bytes([alg]) + struct.pack(">H", len(field)) + field + token)

    for suite in sorted(p for p in (FIXTURES / "pki").iterdir() if p.is_dir()):
        for name, flags in (("signer.chain.pem", 0), ("tsa.chain.pem", 1)):
            path = suite / name
            if path.exists():
                put("cert_path", cert_path_input(flags, pem_certs(path)))

    for target in sorted(counts):
        print(f"{target}: {len(list((corpus / target).iterdir()))} seeds")


if __name__ == "__main__":
    main()
