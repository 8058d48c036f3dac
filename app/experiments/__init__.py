"""Experiments: a dataset version run across variant versions, as one comparison per item and sample."""
