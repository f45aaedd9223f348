import sys

from scenewright.cli import main

sys.exit(main())
