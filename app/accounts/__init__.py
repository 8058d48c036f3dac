"""Accounts: people, roles, sign-in sessions, API tokens, and who is asking."""
