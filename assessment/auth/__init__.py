"""Accounts, roles, sign-in sessions that can be revoked."""
