import sys

from belay_hook.emulator import main

sys.exit(main())
