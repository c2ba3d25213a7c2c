"""Imports of a board's own postings and seeker profiles into the catalog database."""
