"""`python -m eventdesk.gui`."""

import sys

from .app import main

sys.exit(main())
