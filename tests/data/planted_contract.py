"""A contract that v13's decision breaks: CrossHair must find it (the
contract checker's own test of its power)."""

from zswap_spec.model.decisions import v13_page


def v13_stores_as_is_only_with_writeback(ret: int, dlen: int, wb: bool):
    """
    post: __return__[0] != "raw" or wb
    """
    return v13_page(ret, dlen, wb)
