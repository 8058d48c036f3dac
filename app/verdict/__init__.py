"""The verdict: which method wins on what, from an experiment's metrics, ratings and judge, with intervals."""
