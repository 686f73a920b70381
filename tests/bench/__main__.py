"""``python -m tests.bench``: the whole benchmark suite, one table (see run_all)."""

import sys

from tests.bench.run_all import main

sys.exit(main())
