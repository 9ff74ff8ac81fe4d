"""``python -m pykcp.tunnel client|server ...``"""

import sys

from pykcp.tunnel.cli import main

sys.exit(main())
