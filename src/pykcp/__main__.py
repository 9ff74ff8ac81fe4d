"""``python -m pykcp``: the same command line as the ``pykcp`` script."""

from pykcp.cli import main

raise SystemExit(main())
