import sys

from fiscal_core.cli import main

sys.exit(main())
