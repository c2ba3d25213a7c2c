"""Feature definitions, the online store (SQLite or Redis behind one interface) and the event log.

This package knows nothing of ranking: it stores and serves features and events.
"""
