"""The Recommender (the profile step, then the ordered stages) and how it is built: wiring only."""
