"""Cockpit: a local-first ML-ops cockpit. The core (everything but cockpit.ui) never imports Qt."""

__version__ = "0.1.0"
