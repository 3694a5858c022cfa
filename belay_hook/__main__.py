import sys

from belay_hook.cli import main

sys.exit(main())
