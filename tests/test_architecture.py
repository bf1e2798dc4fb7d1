"""The layout rules of issue 12, checked on the source: short functions, no import cycles, no
private names imported across modules, the data layer independent of models and training."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "tl_suite"
MAX_CODE_LINES = 60


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path, ast.parse(path.read_text())


def _imports(name, tree, known=()):
    """Every tl_suite module ``name`` imports (at any depth of the file). ``from package import
    submodule`` counts as importing the submodule only (Python runs the package's
    ``__init__`` first, but that is the package re-exporting, not a dependency)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("tl_suite")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tl_suite"):
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & set(known)
            found |= submodules or {node.module}
            if len(submodules) < len(node.names):
                found.add(node.module)
    return found


def _code_lines(function):
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]  # the docstring
    lines = set()
    for statement in body:
        for node in ast.walk(statement):
            if hasattr(node, "lineno"):
                lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return len(lines)


def test_no_function_is_longer_than_about_sixty_lines_of_code():
    long = [
        f"{name}.{node.name}: {_code_lines(node)} lines"
        for name, _, tree in _modules() for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(node) > MAX_CODE_LINES
    ]
    assert not long, long


def test_no_import_cycles():
    modules = {name: tree for name, _, tree in _modules()}
    graph = {name: {m for m in _imports(name, tree, modules) if m in modules and m != name}
             for name, tree in modules.items()}
    # A package's __init__ that only re-exports is not a dependency of its own submodules.
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for target in graph[node]:
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for module in graph:
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_no_private_names_imported_across_modules():
    private = [
        f"{name}: from {node.module} import {alias.name}"
        for name, _, tree in _modules() for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tl_suite")
        for alias in node.names if alias.name.startswith("_")
    ]
    assert not private, private


def test_data_layer_does_not_import_models_or_training():
    offending = [
        f"{name} imports {target}"
        for name, _, tree in _modules() if name.startswith(("tl_suite.data", "tl_suite.preprocessing"))
        for target in _imports(name, tree)
        if target.startswith(("tl_suite.models", "tl_suite.training", "tl_suite.fine_tuning"))
    ]
    assert not offending, offending


def test_packages_form_layers():
    """preprocessing -> backbones -> data / models -> training -> fine_tuning: no package
    imports one that imports it back (the top-level re-exports and the demo aside)."""
    modules = {name: tree for name, _, tree in _modules()}

    def package(module):
        return module.split(".")[1] if module.count(".") else "tl_suite"

    uses = {}
    for name, tree in modules.items():
        if package(name) in ("tl_suite", "demo"):
            continue
        for target in _imports(name, tree, modules):
            if target in modules and package(target) != package(name):
                uses.setdefault(package(name), set()).add(package(target))

    def reaches(start, goal, seen=()):
        return any(t == goal or (t not in seen and reaches(t, goal, (*seen, t)))
                   for t in uses.get(start, ()))

    mutual = sorted({tuple(sorted((a, b))) for a in uses for b in uses[a] if reaches(b, a)})
    assert not mutual, mutual
    assert "models" not in str(uses.get("data")) and "training" not in str(uses.get("models"))
