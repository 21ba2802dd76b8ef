import sys

from slowatch.topology.demo import main

sys.exit(main())
