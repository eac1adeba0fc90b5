"""The code keeps the shape docs/architecture.md describes: firmware_bridge knows nothing of the
daemon, stages never reach up into the wiring, no import circles between packages, small files."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for top in ("firmware_bridge", "appliance", "hw_tests") for p in (ROOT / top).rglob("*.py")
           if "appliance/v1" not in p.as_posix()]            # generated gRPC stubs
WIRING = {"appliance.__main__", "appliance.cli", "appliance.daemon", "appliance.ingest", "appliance.floor", "appliance.desk",
          "appliance.status", "appliance.store_commands", "appliance.desk_commands", "appliance.demo"}
MAX_LINES = 420          # "about 400"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function (a lazy import is a dependency too)."""
    mod, out = module_name(path), set()
    package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)     # `from appliance import daemon`
    return out


def unit(module: str) -> str | None:
    """The unit of the map: appliance.<package or top-level module>, firmware_bridge, hw_tests."""
    parts = module.split(".")
    if parts[0] == "appliance":
        return ".".join(parts[:2]) if len(parts) > 1 else "appliance"
    return parts[0] if parts[0] in ("firmware_bridge", "hw_tests") else None


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    known = {unit(module_name(p)) for p in SOURCES}
    for path in SOURCES:
        src = unit(module_name(path))
        for target in imports(path):
            dst = unit(target)
            if dst in known and dst not in (src, "appliance"):    # `appliance` itself: __version__ only
                edges[src].add(dst)
    return edges


def test_firmware_bridge_knows_nothing_of_the_daemon():
    offenders = {module_name(p): sorted(i for i in imports(p) if i.split(".")[0] in ("appliance", "hw_tests"))
                 for p in SOURCES if module_name(p).startswith("firmware_bridge")}
    assert not {m: i for m, i in offenders.items() if i}


def test_stages_never_import_the_wiring_above_them():
    stages = [p for p in SOURCES if unit(module_name(p)) not in WIRING | {"appliance", "hw_tests"}]
    offenders = {module_name(p): sorted({unit(i) for i in imports(p)} & WIRING) for p in stages}
    assert not {m: w for m, w in offenders.items() if w}


def test_no_import_circles_between_packages():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:            # Tarjan: a component of more than one unit is a circle
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert len(edges) > 20 and not circles, circles


def test_no_source_file_is_much_over_400_lines():
    long = {module_name(p): n for p in SOURCES if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long
