"""Allow `python -m followup_ops`."""

from followup_ops.cli import main

raise SystemExit(main())
