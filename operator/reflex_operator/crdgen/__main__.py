"""``python -m reflex_operator.crdgen``: write the CRDs and docs/api.md."""

from reflex_operator.crdgen.write import main

if __name__ == "__main__":
    raise SystemExit(main())
