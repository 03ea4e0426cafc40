"""Machine-checked theorems over the variants (Z3, CrossHair): see proofs/README.md."""
