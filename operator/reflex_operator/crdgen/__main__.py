"""``python -m reflex_operator.crdgen``: write the CRDs and docs/api.md."""

from reflex_operator.crdgen.write import main

raise SystemExit(main())
