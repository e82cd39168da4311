"""The lifecycle suites' fixtures and options live in sriov_e2e.suite; this file only loads them."""

from sriov_e2e.suite import *  # noqa: F403 (the suite's fixtures)
from sriov_e2e.suite import pytest_addoption  # noqa: F401 (its options)
