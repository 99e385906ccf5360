"""Results: section scores on the bank scale, rescoring with history."""
