"""Ranking: coarse rules, the GBDT apply-rate ranker, policy rerank and their signals."""
