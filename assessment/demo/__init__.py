"""Demo accounts and a small demo item bank (never in production)."""
