"""Each package's curated ``__all__`` is complete and every name in it resolves."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

PACKAGES = ("edge_sdk", "converters", "firmware_bridge")


@pytest.mark.parametrize("package", PACKAGES)
def test_all_names_resolve(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported, f"{package} must declare __all__"
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert hasattr(module, name), f"{package}.__all__ names {name!r}, which does not exist"


@pytest.mark.parametrize("package", ("edge_sdk", "firmware_bridge"))
def test_error_tree_is_exported(package: str) -> None:
    module = importlib.import_module(package)
    errors = importlib.import_module(f"{package}.errors")
    for name in errors.__all__:
        assert name in module.__all__, f"{package} should export its error {name}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_module_declares_all(package: str) -> None:
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
        if any(part.startswith("_") for part in info.name.split(".")) or info.name.endswith("__main__"):
            continue
        if package == "converters" and info.name.endswith(("cli", "workflow")):
            continue
        submodule = importlib.import_module(info.name)
        assert hasattr(submodule, "__all__"), f"{info.name} has no __all__"
