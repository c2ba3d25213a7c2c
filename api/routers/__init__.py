"""One router per resource: recommendations, events, jobs and operations."""
