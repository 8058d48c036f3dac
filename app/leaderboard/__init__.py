"""The leaderboard: standings with intervals, agreement, position bias and retrieval metrics."""
