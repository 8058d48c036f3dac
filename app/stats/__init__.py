"""Rating statistics: Bradley-Terry with bootstrap intervals, Krippendorff's alpha, mean intervals.

Pure functions over plain arrays, so they can be checked against hand-computed and textbook answers.
"""
