"""The kernel variants of zswap's store path, selectable by name.

Each variant is one module of this package ending with `VARIANT =
Variant(...)` (`registry.Variant`): its transcribed functions, each citing
its source (`@transcribes`), and the record the rest of the model uses.
The package finds them itself, so a new variant is a new module.  None of
them encodes what it is expected to get wrong: divergences fall out of
running them.  `base_trees` holds the trees they sit on.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from .base_trees import BASE_TREES, BaseTree, get_base_tree
from .registry import Variant, VariantError, transcribes

__all__ = ["VARIANTS", "get_variant", "UnknownVariant", "BASE_TREES", "BaseTree", "get_base_tree",
           "Variant", "VariantError", "VariantModuleError", "transcribes", "discover"]


class VariantModuleError(VariantError):
    """A variant module is malformed: the message names its file."""


def discover(package: str, path) -> dict[str, Variant]:
    """Import every module of `package` (found in `path`) and collect the
    `VARIANT` of those that define one, in their `order`."""
    found: dict[str, tuple[Variant, str]] = {}
    orders: dict[int, str] = {}
    for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        if info.ispkg:
            continue
        file = str(Path(info.module_finder.path) / f"{info.name}.py")
        try:
            module = importlib.import_module(f"{package}.{info.name}")
        except Exception as e:  # a record that does not build: say where
            raise VariantModuleError(f"{file}: {type(e).__name__}: {e}") from e
        file = getattr(module, "__file__", None) or file
        if not hasattr(module, "VARIANT"):
            continue
        variant = module.VARIANT
        if not isinstance(variant, Variant):
            raise VariantModuleError(f"{file}: VARIANT must be a registry.Variant, "
                                     f"not {type(variant).__name__}")
        if variant.name in found:
            raise VariantModuleError(f"{file}: variant name {variant.name!r} is already taken "
                                     f"by {found[variant.name][1]}")
        if variant.order in orders:
            raise VariantModuleError(f"{file}: variant order {variant.order} is already taken "
                                     f"by {orders[variant.order]}")
        found[variant.name] = (variant, file)
        orders[variant.order] = file
    return {name: v for name, (v, _) in sorted(found.items(), key=lambda kv: kv[1][0].order)}


VARIANTS: dict[str, Variant] = discover(__name__, __path__)


class UnknownVariant(ValueError):
    pass


def get_variant(name: str) -> Variant:
    """A variant of `VARIANTS`, or a seeded bug's (`seeded-NAME`, seeded.py)."""
    if name in VARIANTS:
        return VARIANTS[name]
    from .seeded import seeded_variants

    try:
        return seeded_variants()[name]
    except KeyError:
        raise UnknownVariant(
            f"unknown variant {name!r}; choose one of: {', '.join(VARIANTS)}"
        ) from None
