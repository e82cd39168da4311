"""The lifecycle suites' fixtures, options and hooks live in sriov_e2e.suite (its __all__); this file loads them."""

from sriov_e2e.suite import *  # noqa: F403
