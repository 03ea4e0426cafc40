"""A variant of the model the optimized core does not implement is refused by name on
the core, and served by the model where the choice is left to `auto`."""

import pytest

import zswap_spec.pool as pool
from zswap_spec.pool import PoolInputError, variant_feature
from zswap_spec.pool import api
from zswap_spec.pool.core_backend import CorePool


@pytest.fixture
def core_without_uniform(monkeypatch):
    """The core as if it did not implement `uniform`."""
    if not pool.core_available()[0]:
        pytest.skip("the optimized core is not built")
    ids = {k: v for k, v in api.VARIANT_IDS.items() if k != "uniform"}
    monkeypatch.setattr(api, "VARIANT_IDS", ids)
    monkeypatch.setattr("zswap_spec.pool.core_backend.VARIANT_IDS", ids)
    monkeypatch.setattr(pool, "CORE_FEATURES", pool.CORE_FEATURES - {variant_feature("uniform")})
    pool._said.clear()


def test_the_core_refuses_a_variant_it_lacks_by_name(core_without_uniform):
    with pytest.raises(PoolInputError, match=r"does not implement the variant 'uniform'.*model"):
        CorePool("uniform", "lz4")
    with pytest.raises(PoolInputError, match=r"the variant 'uniform'.*--impl model"):
        pool.make_pool("uniform", "lz4", impl="core")


def test_auto_gives_such_a_variant_to_the_model_and_says_so(core_without_uniform, capsys):
    p = pool.make_pool("uniform", "lz4", impl="auto")
    assert p.impl == "model"
    assert "the core does not implement the variant 'uniform'" in capsys.readouterr().err
    assert pool.make_pool("v14", "lz4", impl="auto").impl == "core"


def test_every_variant_is_either_in_the_core_or_refused_there():
    from zswap_spec.model.variants import VARIANTS

    for name in VARIANTS:
        if name in api.VARIANT_IDS:
            assert variant_feature(name) in pool.CORE_FEATURES
        else:
            assert variant_feature(name) not in pool.CORE_FEATURES
            if pool.core_available()[0]:
                with pytest.raises(PoolInputError, match=repr(name)):
                    CorePool(name, "lz4")
