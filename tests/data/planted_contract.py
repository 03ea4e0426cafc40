"""Contracts that the model's transcription of the posted series breaks:
CrossHair must refute them (the contract checker's own test of its power).
The decisions are the model's: `page_decision` runs the variant's code
through `Zswap.zswap_store` on a one-page folio, so CrossHair can only find
these counterexamples by executing the model's store path."""

from zswap_spec.model.decisions import page_decision


def v13_stores_as_is_only_with_writeback(ret: int, dlen: int, wb: bool):
    """
    post: __return__[0] != "raw" or wb
    """
    return page_decision("v13", ret, dlen, wb)


def v14_never_stores_a_corrupt_page(ret: int, dlen: int, wb: bool):
    """
    post: __return__[0] != "corrupt"
    """
    return page_decision("v14", ret, dlen, wb)
