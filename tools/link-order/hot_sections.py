#!/usr/bin/env python3
"""The linker script placing the functions a profile ran first in the code (see generate.sh).

hot_sections.py MAP BINARY_NAME PROFILE... [--then PROFILE...]...

MAP is the linker map of the profiled (stripped) binary BINARY_NAME. Each PROFILE is either a
`valgrind --tool=callgrind --demangle=no` run of it (every function that ran), or, named
*.faults, the output of `perf script --show-mmap-events -F addr` for a `perf record -e
page-faults -c 1 -d` run (the code pages a native run touched first: paths that differ from
the run under valgrind, such as CPU-specific ones). Prints the script.
"""

import bisect
import os
import re
import sys

# Valgrind loads position-independent executables at this address on amd64.
PIE_BASE = 0x108000

# Rust's legacy mangling ends in a hash of the crate's build settings, and LLVM numbers local
# copies (".1234", ".llvm.1234"); matching any hash and number keeps the list valid across
# unrelated changes.
LEGACY_HASH = re.compile(r"17h[0-9a-f]{16}E(\.llvm\.\d+|\.\d+)?$")
LOCAL_NUMBER = re.compile(r"(\.llvm)?\.\d+$")


def text_sections(map_path):
    """(start, size, input section name) of every function section, by address."""
    sections = []
    with open(map_path, encoding="utf-8") as f:
        for line in f:
            parts = line.split(None, 4)
            if len(parts) != 5 or ":(.text" not in parts[4]:
                continue
            name = parts[4].strip()
            name = name[name.index(":(") + 2 : -1]
            size = int(parts[2], 16)
            if size:
                sections.append((int(parts[0], 16), size, name))
    sections.sort()
    return sections


def executed_addresses(callgrind_path, binary_name, end):
    """Link-time addresses of the functions of `binary_name` that callgrind saw run.

    Without symbols callgrind names a function by its address: relative to the object when it
    attributes the code to `binary_name`, absolute (loaded at PIE_BASE) when to an unknown object
    ("???"). Names and objects are written once and then referred to by number; each `fn=`
    belongs to the last `ob=`.
    """
    name_line = re.compile(r"^(c?fn|c?ob)=\((\d+)\)(?: (.*))?$")
    functions, objects = {}, {}
    ran = set()
    current = None
    with open(callgrind_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = name_line.match(line.rstrip("\n"))
            if not m:
                continue
            kind, number, name = m.groups()
            table = functions if kind.endswith("fn") else objects
            if name:
                table[number] = name
            if kind == "ob":
                current = number
            elif kind == "fn":
                ran.add((current, number))
    addresses = set()
    for obj, fn in ran:
        name, where = functions.get(fn, ""), objects.get(obj, "")
        if not name.startswith("0x"):
            continue
        address = int(name.split("'")[0], 16)
        if where.endswith("/" + binary_name) and address < end:
            addresses.add(address)
        elif where == "???" and PIE_BASE <= address < PIE_BASE + end:
            addresses.add(address - PIE_BASE)
    return addresses


def hot_output_section(map_path):
    """(start, size) of the `.text.hot` output section in the map, or (0, 0)."""
    with open(map_path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 5 and parts[4] == ".text.hot":
                return int(parts[0], 16), int(parts[2], 16)
    return 0, 0


def faulted_addresses(perf_script_path, binary_name, end):
    """Link-time addresses of the code pages of `binary_name` a native run faulted in."""
    mmap_line = re.compile(r"PERF_RECORD_MMAP2 .*\[0x([0-9a-f]+)\(0x[0-9a-f]+\) @ 0 .*/" + re.escape(binary_name) + "$")
    base = None
    addresses = set()
    with open(perf_script_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            m = mmap_line.search(line)
            if m:
                base = int(m.group(1), 16)
            elif base is not None and re.fullmatch(r"[0-9a-f]+", line):
                address = int(line, 16) - base
                if 0 <= address < end:
                    addresses.add(address)
    return addresses


def pattern_of(section):
    if LEGACY_HASH.search(section):
        return LEGACY_HASH.sub("17h*", section)
    return LOCAL_NUMBER.sub("*", section)


def main():
    map_path, binary_name = sys.argv[1], sys.argv[2]
    # Groups of profiles, separated by "--then", are placed in that order: what the first group
    # ran comes first, so a run like it touches as few blocks as possible.
    groups = [[]]
    for arg in sys.argv[3:]:
        if arg == "--then":
            groups.append([])
        else:
            groups[-1].append(arg)
    sections = text_sections(map_path)
    starts = [s[0] for s in sections]
    end = sections[-1][0] + sections[-1][1]

    def section_at(address):
        i = bisect.bisect_right(starts, address) - 1
        if i >= 0 and address < sections[i][0] + sections[i][1]:
            return sections[i]
        return None

    placed = []
    for group in groups:
        hot = {}
        for path in group:
            if path.endswith(".faults"):
                # Data faults (read-only data) fall outside every function and are left out.
                for a in faulted_addresses(path, binary_name, end):
                    if (s := section_at(a)) is not None:
                        hot[s[2]] = s[1]
                continue
            addresses = executed_addresses(path, binary_name, end)
            found = 0
            for a in addresses:
                if (s := section_at(a)) is not None:
                    hot[s[2]] = s[1]
                    found += 1
            if not addresses or found < 0.9 * len(addresses):
                sys.exit(f"{path}: {found} of {len(addresses)} addresses are in the map's "
                         "functions: not a profile of this binary, or valgrind loaded it elsewhere")
        placed.append(hot)
    # What the current list already places first stays, last (unless FRESH is set): a native run
    # only reveals the first page it touches in each block, so runs add up.
    if not os.environ.get("FRESH"):
        hot_start, hot_size = hot_output_section(map_path)
        placed.append({n: size for start, size, n in sections
                       if hot_start <= start < hot_start + hot_size})
    seen, ordered = set(), []
    for hot in placed:
        group = sorted({pattern_of(name) for name in hot} - seen)
        seen.update(group)
        ordered.extend(group)
    total = {name: size for hot in placed for name, size in hot.items()}
    print("/* Generated by tools/link-order/generate.sh: the functions the vSphere adapter runs")
    print(f"   ({len(total)} sections, {sum(total.values())} bytes when profiled), placed together")
    print("   before the rest of the code, in the order of the profiles that ran them. Linked into")
    print("   the release adapters on glibc targets and the x86_64 musl images (crates/adapter-bin/build.rs). */")
    print("SECTIONS {")
    print("  .text.hot : {")
    for p in ordered:
        print(f"    *({p})")
    print("  }")
    print("} INSERT BEFORE .text;")


if __name__ == "__main__":
    main()
