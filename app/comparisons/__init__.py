"""Comparisons: one query fanned out to several variants, and the stored answers with their evidence."""
