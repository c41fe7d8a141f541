"""The package's shape: sections without import loops, faces that only call ``htr``.

A loop between modules makes the order of imports matter and hides which concept depends on
which; a face that analyses images itself computes a second answer beside the package's.
These read the source (no imports), so they also hold for modules whose extras are missing.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "htr"
FACES = ("app.py", "app_glue.py", "dashboard.py", *(f"dashboard_pages/{p.name}" for p in (ROOT / "dashboard_pages").glob("*.py")))
SECTIONS = ("lm", "train", "synth", "datasets")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every ``htr`` module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imported_modules(path) if m in modules and m != name}
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_loop_inside_htr():
    graph = import_graph()
    assert "htr.recognizer" in graph and "htr.lm.decoder" in graph
    assert cycles(graph) == []


def test_sections_are_packages_and_reading_does_not_depend_on_training():
    for section in SECTIONS:
        assert (PACKAGE / section / "__init__.py").is_file(), section
    graph = import_graph()
    # (the command line is a face of every section, like the app and the dashboard)
    reading = [m for m in graph if m.count(".") == 1 and m.split(".")[1] not in (*SECTIONS, "cli", "__main__")]
    for module in reading:
        assert not {m for m in graph[module] if m.startswith(("htr.train", "htr.synth"))}, module


def test_no_private_name_imported_from_another_module():
    offenders = []
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / f for f in FACES)]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("htr"):
                offenders += [f"{path.name}: {node.module}.{a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert offenders == []


def test_faces_do_no_image_analysis_or_ml_of_their_own():
    for face in FACES:
        imported = {m.split(".")[0] for m in imported_modules(ROOT / face)}
        assert not imported & {"cv2", "keras", "tensorflow", "onnxruntime", "jax", "scipy"}, face
