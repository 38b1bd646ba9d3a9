"""Adapters to the outside world: notification delivery and resolution execution.

Each integration sits behind one small interface with a real implementation (a
signed webhook) and a local one; tests swap in doubles behind the same interface.
"""
