"""One-time access codes: a candidate signs in with a code issued for their registration in a session."""
