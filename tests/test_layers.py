"""The house's rules, read from the code's imports (docs/architecture.md):

- the engine (personalization/) is a library: no chat, storage, process or lab in it;
- the model service (serving/) carries plain data: no chat, storage or lab;
- the store (storage/) knows nothing above it;
- the product (bot/, serving/, storage/, personalization/) never imports the lab at run time;
  only a function may, lazily, for the verbs that are the lab's (`yo tiny-model`, `--smoke`);
- no module imports itself round a circle, lazily or not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "serving", "storage", "personalization", "lab")
# package → the packages it must never import, at the top of a module or inside a function
FORBIDDEN = {
    "personalization": {"bot", "serving", "storage", "lab"},
    "serving": {"bot", "storage", "lab"},
    "storage": {"bot", "serving", "personalization", "lab"},
    "lab": {"bot", "storage"},
}
PRODUCT = ("bot", "serving", "storage", "personalization")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}


def imports_of(name: str, path: Path) -> list[tuple[str, bool]]:
    """(imported module, at the top of the module?) for each import in the file, resolved to
    absolute names; `from X import y` counts as X.y when X.y is a module of the project."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = modules()
    found: list[tuple[str, bool]] = []
    top = {id(node) for node in tree.body}
    guarded = {id(n) for node in tree.body if isinstance(node, ast.If) for n in ast.walk(node)}  # TYPE_CHECKING
    for node in ast.walk(tree):
        at_top = id(node) in top or id(node) in guarded
        if isinstance(node, ast.Import):
            found += [(alias.name, at_top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                child = f"{target}.{alias.name}"
                found.append((child if child in known else target, at_top))
    return found


def first_party(imported: str) -> str | None:
    head = imported.split(".")[0]
    return head if head in PACKAGES else None


ALL = modules()


@pytest.mark.parametrize("name", sorted(ALL))
def test_each_layer_imports_only_what_is_below_it(name: str) -> None:
    package = name.split(".")[0]
    for imported, at_top in imports_of(name, ALL[name]):
        target = first_party(imported)
        assert target not in FORBIDDEN.get(package, set()), f"{name} imports {imported}"
        if package in PRODUCT and target == "lab":
            assert not at_top, f"{name} imports the lab ({imported}) at run time; only a function may, lazily"


def test_no_import_goes_round_a_circle() -> None:
    graph = {name: {imported for imported, _ in imports_of(name, path) if imported in ALL and imported != name}
             for name, path in ALL.items()}
    # A package's __init__ importing its own modules is how packages are made, not a circle.
    edges = {name: {t for t in targets if not (name and t.startswith(name + "."))} for name, targets in graph.items()}
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_every_package_is_installed_and_shipped() -> None:
    """A new package must reach pip (pyproject's package list) and the image (deploy/Dockerfile)."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    for package in PACKAGES:
        assert f'"{package}*"' in pyproject, package
        assert f"COPY --chown=yo:yo {package} ./{package}" in dockerfile, package
