"""Automatic scoring of answers (pure: no domain, no database, no web framework)."""
