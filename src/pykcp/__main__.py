"""``python -m pykcp``: the same command line as the ``pykcp`` script."""

from pykcp.tools.cli import main

raise SystemExit(main())
