"""Pure evaluation functions: ranking metrics, significance tests and the retrain's HTML report.

Nothing here imports the rest of recsys, so stages, the simulator and the lifecycle all use it;
the harnesses that run evaluations live with what they evaluate (`recsys.recall`'s retrieval
evaluation, `recsys.lifecycle.ranking_evaluation`).
"""
