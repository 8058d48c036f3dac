"""Fine-tuning inside the loop: training sets from the team's examples and ratings, jobs on a registry of training backends, the result served and evaluated against its base."""
