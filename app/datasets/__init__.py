"""Datasets: versioned evaluation items (query, reference, tags, expected source) and a format rule."""
