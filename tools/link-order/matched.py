#!/usr/bin/env python3
"""How much of the link order still applies: the share of the sections hot-text.ld lists that
the linker found in the adapter (see check.sh).

matched.py MAP HOT_TEXT_LD [--min SHARE]

MAP is a linker map of the release vsphere-adapter (ADAPTER_LINK_MAP). Prints the share of
listed sections the map holds, with a few that it does not; exits 1 when the share is under
SHARE (default 0.8).
"""

import fnmatch
import re
import sys


def listed(ld_path):
    """The section patterns of the linker script, in order."""
    pattern = re.compile(r"^\s*\*\((\.text\.[^)\s]+)\)\s*$")
    with open(ld_path, encoding="utf-8") as f:
        return [m.group(1) for m in map(pattern.match, f) if m]


def present(map_path):
    """Every input section name in the map."""
    names = set()
    section = re.compile(r"\((\.text\.[^)\s]+)\)")
    with open(map_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            for m in section.finditer(line):
                names.add(m.group(1))
    return names


def main(argv):
    args = argv[1:]
    minimum = 0.8
    if "--min" in args:
        i = args.index("--min")
        minimum = float(args[i + 1])
        del args[i : i + 2]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    map_path, ld_path = args
    patterns = listed(ld_path)
    names = present(map_path)
    if not patterns:
        print(f"matched.py: no section patterns in {ld_path}", file=sys.stderr)
        return 2
    exact = [p for p in patterns if not any(c in p for c in "*?[")]
    globs = [p for p in patterns if p not in exact]
    missing = [p for p in exact if p not in names]
    for g in globs:
        if not any(fnmatch.fnmatchcase(n, g) for n in names):
            missing.append(g)
    share = 1 - len(missing) / len(patterns)
    print(
        f"link order: {len(patterns) - len(missing)} of {len(patterns)} listed sections "
        f"found ({share:.0%}; at least {minimum:.0%} wanted)"
    )
    for m in missing[:5]:
        print(f"  not found: {m[:120]}")
    if share < minimum:
        print(
            "link order: stale; regenerate it with tools/link-order/generate.sh",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
