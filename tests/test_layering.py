"""Imports point one way: a layer never imports a layer above it, and modules form no cycles.

Layers, lowest first (a module may import its own layer and the ones below):

====  ==============  ===========================================================================
 0    base            zoo._io, zoo._argtypes, zoo._version, zoo.outputs
 1    layers          zoo.layers
 2    quantizers      zoo.quantizers
 3    tokenizers      zoo.tokenizers, zoo.pretrained, zoo.registry, zoo.hub, and ``zoo`` itself
 4    components      zoo.losses, zoo.metrics, zoo.data
 5    evaluation      zoo.evaluation
 6    modalities      zoo.modalities
 7    training        zoo.training
 8    apps            zoo.codec, zoo.demo, zoo.video_demo, zoo.__main__, train.py, eval/
====  ==============  ===========================================================================

Where ``zoo/__init__.py`` sits: it is the public API (``zoo.load``, ``zoo.create_tokenizer``, ...)
and imports the tokenizer layer, so it belongs to layer 3. Python runs it before any ``zoo.*``
module, so importing a module of layers 0-2 also loads layers 0-3: the runtime check (a) holds
every import to "nothing above layer 3 or the module's own layer, whichever is higher"; the
static check (b) holds every module to its own layer exactly, and no module below layer 3
imports ``zoo`` itself.

(a) imports each layer alone in a fresh interpreter and checks ``sys.modules``;
(b) reads every ``import zoo...`` / ``from zoo... import`` statement with ``ast`` (module level and
inside functions) and checks the layer order, then looks for import cycles between modules
(an import of ``zoo.a.b`` also runs the ``zoo.a`` package, which counts as an edge too, unless the
importer lives inside ``zoo.a``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Module prefixes by layer (longest prefix wins).
LAYERS: dict[str, int] = {
    "zoo._io": 0,
    "zoo._argtypes": 0,
    "zoo._version": 0,
    "zoo.outputs": 0,
    "zoo.layers": 1,
    "zoo.quantizers": 2,
    "zoo": 3,
    "zoo.tokenizers": 3,
    "zoo.pretrained": 3,
    "zoo.registry": 3,
    "zoo.hub": 3,
    "zoo.losses": 4,
    "zoo.metrics": 4,
    "zoo.data": 4,
    "zoo.evaluation": 5,
    "zoo.modalities": 6,
    "zoo.training": 7,
    "zoo.codec": 8,
    "zoo.demo": 8,
    "zoo.video_demo": 8,
    "zoo.__main__": 8,
    "train": 8,
    "eval": 8,
}
LAYER_NAMES = [
    "base",
    "layers",
    "quantizers",
    "tokenizers",
    "components",
    "evaluation",
    "modalities",
    "training",
    "apps",
]
#: The floor of the runtime check: ``import zoo.<anything>`` runs zoo/__init__.py (layer 3).
API_LAYER = 3

#: Known imports against the layer order, ``(importer, imported)``. The
#: test fails when a new one appears and when one of these is gone (then delete its line).
KNOWN_LAYER_VIOLATIONS: set[tuple[str, str]] = set()
#: Imports ``(importer, imported)`` known to close an import cycle; the
#: cycle check leaves them out, and fails once one is gone (then delete its line).
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()


def layer_of(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise KeyError(f"{module}: in no layer; add it to LAYERS in {__file__}")


def source_files() -> dict[str, Path]:
    """``{module name: path}`` of every module of the package, eval/ and train.py."""
    files = {}
    for path in sorted((ROOT / "zoo").rglob("*.py")) + sorted((ROOT / "eval").glob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    files["train"] = ROOT / "train.py"
    return files


def _is_package(module: str) -> bool:
    return (ROOT / Path(*module.split(".")) / "__init__.py").is_file()


def _exists(module: str) -> bool:
    path = ROOT / Path(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def zoo_imports(module: str, path: Path) -> list[tuple[str, int]]:
    """``(imported zoo module, line)`` of every import statement in ``path``, wherever it is."""
    found = []
    package = module if _is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "zoo"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "zoo":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub if _exists(sub) else base, node.lineno))
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, list[tuple[str, int]]]:
    return {m: zoo_imports(m, p) for m, p in source_files().items()}


def test_every_module_is_in_a_layer(graph):
    for module in graph:
        layer_of(module)


def test_imports_point_down(graph):
    found: dict[tuple[str, str], str] = {}
    for module, imports in graph.items():
        for target, line in imports:
            if layer_of(target) > layer_of(module):
                found[(module, target)] = (
                    f"{source_files()[module].relative_to(ROOT)}:{line}: {module} "
                    f"({LAYER_NAMES[layer_of(module)]}) imports {target} "
                    f"({LAYER_NAMES[layer_of(target)]})"
                )
    new = sorted(set(found) - KNOWN_LAYER_VIOLATIONS)
    assert not new, "imports against the layer order:\n" + "\n".join(found[k] for k in new)
    stale = sorted(KNOWN_LAYER_VIOLATIONS - set(found))
    assert not stale, f"fixed, remove from KNOWN_LAYER_VIOLATIONS: {stale}"


def _edges(graph: dict[str, list[tuple[str, int]]]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in graph}
    for module, imports in graph.items():
        for target, _ in imports:
            parts = target.split(".")
            for n in range(1, len(parts) + 1):
                node = ".".join(parts[:n])
                # Importing zoo.a.b runs the package zoo.a first, unless the importer is inside it
                # (then zoo.a is already running: the package importing its own modules is fine).
                inside = module == node or module.startswith(node + ".")
                if node in graph and node != module and (n == len(parts) or not inside):
                    edges[module].add(node)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    out.append(tuple(sorted(component)))
    return sorted(out)


def test_no_import_cycles(graph):
    present = {(m, t) for m, imports in graph.items() for t, _ in imports}
    stale = sorted(KNOWN_CYCLE_EDGES - present)
    assert not stale, f"gone, remove from KNOWN_CYCLE_EDGES: {stale}"
    pruned = {
        m: [(t, n) for t, n in imports if (m, t) not in KNOWN_CYCLE_EDGES]
        for m, imports in graph.items()
    }
    cycles = _cycles(_edges(pruned))
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_finds_cycles():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(edges) == [("a", "b", "c")]
    graph = {"zoo.x": [("zoo.y.m", 1)], "zoo.y": [("zoo.y.m", 1)], "zoo.y.m": [("zoo.x", 1)]}
    # zoo.y.m -> zoo.x -> zoo.y (package run first) -> zoo.y.m: a cycle through the package.
    assert _cycles(_edges(graph)) == [("zoo.x", "zoo.y", "zoo.y.m")]


#: The packages each runtime check imports, by layer (layers 0-3 all load zoo/__init__.py).
RUNTIME = {
    API_LAYER: ["zoo", "zoo._io", "zoo._argtypes", "zoo.outputs", "zoo.layers", "zoo.quantizers"],
    4: ["zoo.losses", "zoo.metrics", "zoo.data"],
    5: ["zoo.evaluation"],
    6: ["zoo.modalities"],
    7: ["zoo.training"],
}


@pytest.mark.parametrize("layer", sorted(RUNTIME), ids=lambda n: LAYER_NAMES[n])
def test_importing_a_layer_loads_nothing_above_it(layer):
    code = (
        "import importlib, sys\n"
        f"for name in {RUNTIME[layer]!r}:\n"
        "    importlib.import_module(name)\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m == 'zoo' or m.startswith('zoo.'))))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = run.stdout.split()
    above = [m for m in loaded if layer_of(m) > layer]
    known = {target for _, target in KNOWN_LAYER_VIOLATIONS}
    above = [m for m in above if not any(m == k or m.startswith(k + ".") for k in known)]
    assert not above, f"importing {RUNTIME[layer]} loaded higher layers: {above}"
