#!/usr/bin/env python3
"""Lists the largest stack frames of a Cortex-M image.

Reads the `.stack_sizes` section that `-Z emit-stack-sizes` (nightly rustc)
makes LLVM emit: one entry per function, its address (4 bytes, little
endian) then its frame size (ULEB128). rust-lld keeps the non-allocated
section in the ELF. Names come from arm-none-eabi-nm. A frame is one
function's own use; the peak is the sum along the deepest call path.

With --flash, lists instead the largest .text/.rodata symbols and the
flash per crate (a symbol is counted for the first path segment of its
demangled name, or of the type in `<Type as Trait>::f`).

usage: frames.py ELF [--top N] [--flash]
"""

import argparse
import os
import subprocess
import sys
import tempfile


def stack_sizes(elf):
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "stack_sizes.bin")
        subprocess.run(
            ["arm-none-eabi-objcopy", "-O", "binary", "--only-section=.stack_sizes",
             "--set-section-flags", ".stack_sizes=alloc", elf, raw],
            check=True)
        with open(raw, "rb") as f:
            data = f.read()
    entries, i = [], 0
    while i + 4 <= len(data):
        addr = int.from_bytes(data[i:i + 4], "little")
        i += 4
        size, shift = 0, 0
        while True:
            if i >= len(data):
                raise ValueError("truncated ULEB128 in .stack_sizes")
            byte = data[i]
            i += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        entries.append((addr & ~1, size))  # Thumb functions have bit 0 set
    return entries


def symbols(elf):
    out = subprocess.run(["arm-none-eabi-nm", "-C", elf], check=True,
                         capture_output=True, text=True).stdout
    names = {}
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tT":
            names.setdefault(int(parts[0], 16) & ~1, parts[2])
    return names


def crate_of(name):
    name = name.lstrip("<&*")
    for prefix in ("mut ", "dyn ", "const "):
        if name.startswith(prefix):
            name = name[len(prefix):].lstrip("<&*")
    head = name.split("::", 1)[0].split("<", 1)[0].split(" ", 1)[0]
    # `<T as der::Decode>::decode`: a generic type, count it for the trait.
    if len(head) <= 2 and " as " in name:
        return crate_of(name.split(" as ", 1)[1])
    return head or name


def flash(elf, top):
    out = subprocess.run(["arm-none-eabi-nm", "-S", "-C", "--size-sort", elf], check=True,
                         capture_output=True, text=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split(" ", 3)
        # The package and the trust anchors have sections of their own and
        # are not the verifier's flash.
        if len(parts) == 4 and parts[2] in "tTrR" and "::profile::" not in parts[3]:
            syms.append((int(parts[1], 16), parts[3]))
    per_crate = {}
    for size, name in syms:
        per_crate[crate_of(name)] = per_crate.get(crate_of(name), 0) + size
    print("  per crate:")
    for crate, size in sorted(per_crate.items(), key=lambda e: -e[1])[:top]:
        print(f"{size:7d}  {crate}")
    print("  symbols:")
    for size, name in sorted(syms, key=lambda e: -e[0])[:top]:
        print(f"{size:7d}  {name[:150]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("elf")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--flash", action="store_true")
    a = ap.parse_args()
    if a.flash:
        flash(a.elf, a.top)
        return 0
    entries = stack_sizes(a.elf)
    if not entries:
        print("  (no .stack_sizes: build with nightly and RUSTFLAGS=-Zemit-stack-sizes)")
        return 0
    names = symbols(a.elf)
    for addr, size in sorted(entries, key=lambda e: -e[1])[:a.top]:
        print(f"{size:7d}  {names.get(addr, hex(addr))[:150]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
