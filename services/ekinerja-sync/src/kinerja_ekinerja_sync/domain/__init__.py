"""Plain rules of the sync: the SIASN-like mapping, outcome classification, backoff."""
