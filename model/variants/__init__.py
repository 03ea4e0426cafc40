"""The kernel variants of zswap's store path, selectable by name.

Each variant transcribes posted or merged code (or, for the review's
proposals, the text of the proposal) and cites it.  None of them encodes what
it is expected to get wrong: divergences fall out of running them.

Each also names its `base_tree` (``base_trees.BASE_TREES``): the kernel tree
whose zswap around the store path (the writeback walk, the pool shrink
worker) the model runs it with.
"""

from __future__ import annotations

from .base_trees import BASE_TREES, BaseTree, get_base_tree
from .batched import V13, V14
from .mainline import Mainline
from .proposals import Explicit, Uniform

__all__ = ["VARIANTS", "get_variant", "UnknownVariant", "BASE_TREES", "BaseTree", "get_base_tree"]

VARIANTS = {v.name: v for v in (Mainline(), V13(), V14(), Explicit(), Uniform())}


class UnknownVariant(ValueError):
    pass


def get_variant(name: str):
    try:
        return VARIANTS[name]
    except KeyError:
        raise UnknownVariant(
            f"unknown variant {name!r}; choose one of: {', '.join(VARIANTS)}"
        ) from None
