"""Marketplace channel adapters: receive a platform's messages (verify, normalise) and act on
the platform (decision calls). base.py is the interface every platform implements."""
