"""The package's structure rules, checked on its source: no cross-module private names, one sweep.

Internal building blocks are shared through the internal layer
(``rbm_jax._src``, ``rbm_jax._checks``, ``rbm_jax.backprop._checks``) under
PUBLIC names, as optax's ``_src`` does. Importing a private *module* is fine;
reaching into another module's private *name* — ``from rbm_jax.x import _y`` or
``x._y`` where ``x`` is a module of the package — is not.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "rbm_jax"


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted: str) -> bool:
    """Whether ``rbm_jax.a.b`` names a module or package of the source tree."""
    rel = pathlib.Path(*dotted.split("."))
    return (PACKAGE.parent / rel).with_suffix(".py").exists() or (PACKAGE.parent / rel / "__init__.py").exists()


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def cross_module_private_uses(source: str, this_module: str) -> list[str]:
    """Every ``from rbm_jax.x import _y`` and ``x._y`` (x a package module) in ``source``."""
    tree = ast.parse(source)
    package = this_module if is_module(this_module) and (PACKAGE.parent / pathlib.Path(
        *this_module.split("."))).is_dir() else this_module.rpartition(".")[0]
    module_aliases: dict[str, str] = {}  # local name -> dotted module it is bound to
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("rbm_jax"):
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if is_module(full):
                    module_aliases[alias.asname or alias.name] = full
                elif is_private(alias.name) and base != this_module:
                    found.append(f"line {node.lineno}: from {base} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("rbm_jax") and alias.asname:
                    module_aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in module_aliases and is_private(node.attr)):
            target = module_aliases[node.value.id]
            if target != this_module and not is_module(f"{target}.{node.attr}"):
                found.append(f"line {node.lineno}: {node.value.id}.{node.attr} ({target})")
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=[module_name(p) for p in SOURCES])
def test_no_module_uses_another_modules_private_names(path):
    found = cross_module_private_uses(path.read_text(), module_name(path))
    assert not found, f"{module_name(path)} reaches into other modules' private names:\n" + "\n".join(found)


def test_the_checker_sees_both_forms():
    """Negative control: the checker flags each form it exists to catch, and allows private modules."""
    bad = ("from rbm_jax.rbm import _visible\n"
           "from rbm_jax import exact\n"
           "exact._checked(None)\n")
    assert len(cross_module_private_uses(bad, "rbm_jax.gibbs")) == 2
    fine = ("from rbm_jax import _checks\n"
            "from rbm_jax._src import sweep\n"
            "from rbm_jax.backprop import _checks as mc\n"
            "sweep.build_sweep(); _checks.key(1); mc.vector(1, 'x')\n"
            "def _own(): pass\n_own()\n")
    assert cross_module_private_uses(fine, "rbm_jax.gibbs") == []


def test_types_module_imports_nothing_from_the_package():
    tree = ast.parse((PACKAGE / "types.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("rbm_jax") and not node.level
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("rbm_jax") for a in node.names)


def calls_named(name: str) -> dict[str, int]:
    """How many calls of ``name`` (as ``name(...)`` or ``x.name(...)``) each package module makes."""
    counts = {}
    for path in SOURCES:
        n = 0
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                if (isinstance(f, ast.Name) and f.id == name) or (isinstance(f, ast.Attribute) and f.attr == name):
                    n += 1
        if n:
            counts[module_name(path)] = n
    return counts


def test_one_sweep_and_one_conditional_draw():
    """A layer is drawn given the other in one place (the unit types), and the sweep is written once.

    Every sampler, estimator, AIS transition and benchmark builds on ``rbm_jax._src.sweep.sweep``;
    the Bernoulli draw (u < p) is defined in ``rbm_jax._src.units`` and called nowhere else.
    """
    assert set(calls_named("bernoulli")) == {"rbm_jax._src.units"}
    assert set(calls_named("sweep")) == {"rbm_jax._src.sweep"}
    definitions = [module_name(p) for p in SOURCES
                   for node in ast.walk(ast.parse(p.read_text()))
                   if isinstance(node, ast.FunctionDef) and node.name in ("sweep", "_sweep", "_gibbs_sweeps")]
    assert definitions == ["rbm_jax._src.sweep"]
