"""Calibration runs: response data, background IRT calibration, review and decisions."""
