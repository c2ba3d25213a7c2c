"""The employer side's ranking: the seekers for a posting, through recall, coarse rules, a GBDT
fit model and a rerank, each with its reasons."""
