"""`python -m sriov_e2e` is the `sriov-e2e` CLI."""

import sys

from sriov_e2e.cli import main

sys.exit(main())
