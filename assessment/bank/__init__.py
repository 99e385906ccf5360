"""The item bank: items, their versions and language variants."""
