"""Exam delivery: tests, sessions, the candidate's timed sitting and the proctor's controls."""
