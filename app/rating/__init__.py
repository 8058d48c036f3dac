"""Rating: blind rating, the rubric, review queues, chunk relevance marks and exports."""
