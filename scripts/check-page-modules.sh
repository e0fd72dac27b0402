#!/usr/bin/env bash
# Checks the page's module layering (src/): state and actions never import the views
# (`crate::components`), except main.rs, which mounts the page; and the `crate::` imports among
# the files of src/ form no cycle. `--graph` prints the module graph.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python3 - "$@" <<'PY'
import pathlib, re, sys

src = pathlib.Path("src")
# Module path ("components::viewer") of every file, and its file.
modules = {}
for path in sorted(src.rglob("*.rs")):
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "main"):
        parts = parts[:-1]
    modules["::".join(parts) or "crate"] = path

def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)

def expand(prefix, tree):
    """Paths named by a `use` tree: `a::{b, c::{d}}` -> a::b, a::c::d."""
    tree = tree.strip()
    brace = tree.find("{")
    if brace < 0:
        return [prefix + tree]
    head, body = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    items, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    return [p for item in items if item.strip() for p in expand(prefix + head, item)]

def resolve(path):
    """The longest module of src/ that `path` (crate::a::b::Item) names."""
    parts = [p.strip() for p in path.split("::")]
    parts = [p.split(" as ")[0].strip() for p in parts if p.strip()]
    for end in range(len(parts), 0, -1):
        name = "::".join(parts[:end])
        if name in modules:
            return name
    return None

graph = {}
for module, path in modules.items():
    text = strip_comments(path.read_text())
    targets = set()
    for tree in re.findall(r"\buse\s+crate::(.*?);", text, flags=re.S):
        targets.update(expand("", tree))
    # Paths written out in code: crate::a::b::c.
    targets.update(re.findall(r"\bcrate::((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)", text))
    # `super::x` inside a module directory.
    base = module.rsplit("::", 1)[0] if "::" in module else ""
    for tree in re.findall(r"\buse\s+super::(.*?);", text, flags=re.S):
        targets.update((base + "::" if base else "") + p for p in expand("", tree))
    edges = {resolve(t) for t in targets} - {None, module, "crate"}
    graph[module] = sorted(edges)

failures = []
for module, edges in graph.items():
    inside = module == "components" or module.startswith("components::")
    if not inside and module != "crate" and any(
        e == "components" or e.startswith("components::") for e in edges
    ):
        failures.append(f"{modules[module]} (state or actions) imports the views: "
                        + ", ".join(e for e in edges if e.startswith("components")))

# Cycles, by depth-first search.
state, stack = {}, []
def visit(node):
    state[node] = "open"
    stack.append(node)
    for nxt in graph.get(node, []):
        if state.get(nxt) == "open":
            cycle = stack[stack.index(nxt):] + [nxt]
            failures.append("import cycle: " + " -> ".join(cycle))
        elif nxt not in state:
            visit(nxt)
    stack.pop()
    state[node] = "done"
for node in graph:
    if node not in state:
        visit(node)

if "--graph" in sys.argv:
    for module, edges in graph.items():
        print(f"{module}: {', '.join(edges)}")
if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
print(f"page modules: {len(graph)} files, views above state, no import cycle")
PY
