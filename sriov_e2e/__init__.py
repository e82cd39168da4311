"""sriov-e2e: an end-to-end test harness for the Kubernetes SR-IOV networking stack."""

__version__ = "0.1.0"
