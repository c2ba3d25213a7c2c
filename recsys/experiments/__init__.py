"""Online experiments: champion against challenger by team-draft interleaving."""
