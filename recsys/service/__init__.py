"""The online service behind the API: stored seekers, the online store, the event log and the
impression log around one Recommender."""
