"""Root conftest: the harness's pytest plugin is loaded from pyproject's addopts (`-p sriov_e2e.pytest_plugin`)."""
