"""Build the pinned SR-IOV stack, Kubernetes node binaries and local images (``python3 -m sriov_e2e.toolchain``).

Standard library only, so that ``make tools`` runs with the system python3 before any virtualenv exists.
``versions.toml`` at the repository root is the one pin file; :mod:`.pins` reads it.
"""

from __future__ import annotations

from .pins import Component, Image, Pins, PinsError, VersionProbe, load_pins, version_probes

__all__ = ["Component", "Image", "Pins", "PinsError", "VersionProbe", "load_pins", "version_probes"]
