"""The lifecycle suites' fixtures, options and hooks live in sriov_e2e.suite; this file only loads them."""

from sriov_e2e.suite import *  # noqa: F403 (the suite's fixtures)
from sriov_e2e.suite import pytest_addoption, pytest_runtest_makereport  # noqa: F401 (its options and hooks)
