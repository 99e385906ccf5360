"""IRT calibration and scoring benchmark: Tandau against the IRT packages that install from PyPI.

Every fit runs alone in its own subprocess on the same simulated ``.npz`` files; see ``bench/README.md``.
"""
