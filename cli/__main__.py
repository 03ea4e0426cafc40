"""`python -m zswap_spec` is the `zswap-spec` command."""

from .cli import main

main()
