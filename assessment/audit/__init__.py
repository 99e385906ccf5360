"""Hash-chained audit trail of staff actions and security events."""
