"""Home pages: each role lands on its own."""
