#!/usr/bin/env python3
"""Reports import cycles between the modules of a Rust crate.

Usage: python3 scripts/module-cycles.py CRATE_SRC_DIR [--tests]

Each file under SRC is a module (`store/runs.rs` is `store::runs`, `store/mod.rs` is
`store`). Every `crate::...`, `super::...` and `self::...` path the file names (in `use`
declarations, brace groups included, and inline in code) is resolved to the deepest module
it reaches; a path that stops at the crate root (`crate::Emulator`) names the root (`lib`).
Two kinds of cycles are reported:

- between top-level modules (`store`, `server`, `lib`, ...);
- between sibling submodules of one folder (`server/datasets.rs` and `server/items.rs`);
  a folder's own `mod.rs` is not a sibling of its children.

Code under `#[cfg(test)]` (a `tests.rs` file, or an inline `mod tests { ... }` at the end of
a file) is left out unless `--tests` is given: a test may start the whole emulator.
The binary's `main.rs` is another crate and is skipped. Exits 1 when it finds a cycle.
"""

import re
import sys
from pathlib import Path

USE_RE = re.compile(r"\buse\s+((?:crate|super|self)\b[^;]*);", re.S)
PATH_RE = re.compile(r"\b((?:crate|super|self)(?:::\w+)+)")
TEST_MOD_RE = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", re.S)
COMMENT_RE = re.compile(r"//[^\n]*")


def module_of(src: Path, file: Path) -> list:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts in (["lib"], ["main"]):
        return []
    return parts


def is_module(src: Path, parts: list) -> bool:
    if not parts:
        return True
    base = src.joinpath(*parts)
    return base.with_suffix(".rs").is_file() or (base / "mod.rs").is_file()


def expand(tree: str) -> list:
    """`a::{b, c::{d, e}}` -> [`a::b`, `a::c::d`, `a::c::e`]."""
    tree = re.sub(r"\s+", "", tree)
    start = tree.find("{")
    if start < 0:
        return [tree]
    prefix, depth, items, cur = tree[:start], 0, [], ""
    for ch in tree[start + 1 : tree.rfind("}")]:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    items.append(cur)
    out = []
    for item in filter(None, items):
        out.extend(prefix + e for e in expand(item))
    return out


def resolve(src: Path, here: list, path: str):
    segs = [s for s in re.split(r"::", path) if s]
    # `use x::y as z` and globs: only the path matters.
    segs = [s.split(" as ")[0] for s in segs if s not in ("*", "self")] or segs
    head, rest = segs[0], segs[1:]
    if head == "crate":
        base = []
    elif head == "self":
        base = list(here)
    elif head == "super":
        base = list(here[:-1])
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    else:
        return None
    target = list(base)
    for seg in rest:
        seg = re.sub(r"\W.*", "", seg)
        if not seg or not is_module(src, target + [seg]):
            break
        target.append(seg)
    return target


def strip_tests(text: str) -> str:
    m = TEST_MOD_RE.search(text)
    return text[: m.start()] if m else text


def edges_of(src: Path, include_tests: bool):
    edges = {}
    for file in sorted(src.rglob("*.rs")):
        if file.name == "main.rs" and file.parent == src:
            continue
        if file.name == "tests.rs" and not include_tests:
            continue
        here = module_of(src, file)
        text = COMMENT_RE.sub("", file.read_text())
        if not include_tests:
            text = strip_tests(text)
        paths = []
        for m in USE_RE.finditer(text):
            paths.extend(expand(m.group(1)))
        paths.extend(PATH_RE.findall(USE_RE.sub("", text)))
        for p in paths:
            target = resolve(src, here, p)
            if target is not None and target != here:
                edges.setdefault(tuple(here), set()).add(tuple(target))
    return edges


def cycles(graph: dict) -> list:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    nodes = set(graph) | {t for ts in graph.values() for t in ts}

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def name(parts) -> str:
    return "::".join(parts) if parts else "lib"


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__)
        return 2
    src = Path(args[0])
    edges = edges_of(src, "--tests" in sys.argv)
    found = 0
    top = {}
    for a, ts in edges.items():
        for b in ts:
            ka, kb = name(a[:1]), name(b[:1])
            if ka != kb:
                top.setdefault(ka, set()).add(kb)
    for comp in cycles(top):
        found += 1
        print("top-level cycle: " + " <-> ".join(comp))
        for a in comp:
            for b in sorted(top.get(a, ())):
                if b in comp:
                    print(f"    {a} -> {b}")
    folders = {a[:-1] for a in edges if len(a) > 1} | {
        b[:-1] for ts in edges.values() for b in ts if len(b) > 1
    }
    for folder in sorted(folders):
        k = len(folder)
        sib = {}
        for a, ts in edges.items():
            if len(a) <= k or a[:k] != folder:
                continue
            for b in ts:
                if len(b) > k and b[:k] == folder and a[k] != b[k]:
                    sib.setdefault(a[k], set()).add(b[k])
        for comp in cycles(sib):
            found += 1
            print(f"sibling cycle in {name(folder)}/: " + " <-> ".join(comp))
            for a in comp:
                for b in sorted(sib.get(a, ())):
                    if b in comp:
                        print(f"    {a} -> {b}")
    if not found:
        print(f"no module cycles in {src}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
