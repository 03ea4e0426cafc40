"""`python -m zswap_spec` is the `zswap-spec` command."""

from zswap_spec._entry import main

if __name__ == "__main__":  # worker processes import this module again: run nothing then
    main()
