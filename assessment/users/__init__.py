"""Administrators manage accounts."""
