"""The package reads as the pipeline: each stage imports only from itself and the stages before it."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "catalog_writer"
STAGES = ["core", "ingest", "quality", "dataset", "training", "inference", "evaluation", "feedback", "improve", "app"]


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every catalog_writer module a file imports, at any depth (function-level imports count too)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("catalog_writer"):
            if node.module == "catalog_writer":
                out += [(node.lineno, f"catalog_writer.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("catalog_writer")]
    return out


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_module_lives_in_a_stage():
    stray = [p.name for p in PKG.glob("*.py") if p.name != "__init__.py"]
    assert stray == [], f"modules outside a stage package: {stray}"
    assert sorted(d.name for d in PKG.iterdir() if d.is_dir() and d.name != "__pycache__") == sorted(STAGES)


def test_no_upward_imports():
    bad = []
    for path in PKG.rglob("*.py"):
        own = path.relative_to(PKG).parts[0]
        for line, mod in _imports(path):
            target = _stage(mod)
            assert target in STAGES, f"{path}:{line} imports {mod}, which is not in a stage package"
            if STAGES.index(target) > STAGES.index(own):
                bad.append(f"{path.relative_to(PKG)}:{line} ({own}) imports {mod} ({target})")
    assert bad == [], "upward imports:\n" + "\n".join(bad)


def test_no_import_cycles_between_modules():
    graph: dict[str, set[str]] = {}
    for path in PKG.rglob("*.py"):
        name = ".".join(("catalog_writer", *path.relative_to(PKG).with_suffix("").parts)).removesuffix(".__init__")
        graph[name] = {m for _, m in _imports(path)}
    # a package import reaches its __init__; an import of a module in a package is that module only
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if seen.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node)
