"""Loaders for the real data: the O*NET taxonomy, the gazetteer and the LinkedIn job catalog."""
