#!/usr/bin/env python3
"""Checks that every #include of the sources points down the layers of DESIGN.md §3.

The layers and what each may use come from the build itself: MOEREC_LAYERS in the top
CMakeLists.txt, and the moerec_folder(USES ...) line of each folder's CMakeLists.txt. A source
file of folder F may include headers of F and of the folders F uses, and never a header under
another folder's internal/ (a folder's internal/ is for that folder and the folders inside it).
Unit tests (*_test.cc) may reach up to build their fixtures, but not into internal/ of another
top-level folder. Prints each violation as path:line and exits 1 when there is any.

Usage: check_layers.py [SOURCE_DIR]
"""
import os
import re
import sys

INCLUDE = re.compile(r'\s*#\s*include\s+"([^"]+)"')
SOURCES = (".h", ".cc", ".cu", ".cuh")


def read_layers(root):
    top = open(os.path.join(root, "CMakeLists.txt")).read()
    m = re.search(r"set\(MOEREC_LAYERS([^)]*)\)", top)
    if not m:
        sys.exit("check_layers: MOEREC_LAYERS not found in CMakeLists.txt")
    layers = m.group(1).split()
    uses = {}
    for layer in layers:
        path = os.path.join(root, layer, "CMakeLists.txt")
        text = open(path).read() if os.path.exists(path) else ""
        u = re.search(r"moerec_folder\(USES([^)]*)\)", text)
        if not u:
            sys.exit(f"check_layers: {layer}/CMakeLists.txt has no moerec_folder(USES ...)")
        uses[layer] = set(u.group(1).split())
        order = layers.index(layer)
        for used in uses[layer]:
            if used not in layers or layers.index(used) >= order:
                sys.exit(f"check_layers: {layer} USES {used}, which is not below it")
    return layers, uses


def internal_owner(include):
    """The folder owning the internal/ an include points into, or None."""
    parts = include.split("/")
    if "internal" not in parts[:-1]:
        return None
    return "/".join(parts[: parts.index("internal")])


def check(root):
    layers, uses = read_layers(root)
    bad = []
    for layer in layers:
        for dirpath, _, files in os.walk(os.path.join(root, layer)):
            for name in sorted(files):
                if not name.endswith(SOURCES):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                rel_dir = os.path.dirname(rel)
                is_test = name.endswith("_test.cc") or layer == "tests"
                for number, line in enumerate(open(path, errors="replace"), 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    inc = m.group(1)
                    target = inc.split("/")[0]
                    if target not in layers:
                        continue  # generated or third-party
                    owner = internal_owner(inc)
                    if owner is not None and not (rel_dir + "/").startswith(owner + "/"):
                        if not is_test or owner.split("/")[0] != layer:
                            bad.append(f"{rel}:{number}: includes {inc}, inside {owner}/internal/")
                            continue
                    if is_test or target == layer:
                        continue
                    if target not in uses[layer]:
                        why = "up the layers" if layers.index(target) > layers.index(layer) \
                            else f"not in the USES of {layer}/"
                        bad.append(f"{rel}:{number}: includes {inc} ({why})")
    return bad


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    bad = check(os.path.abspath(root))
    for b in bad:
        print(b)
    print(f"{len(bad)} include(s) against the layers")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
