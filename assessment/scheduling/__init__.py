"""Administrators schedule exams: tests, sessions, candidates and their accommodations."""
