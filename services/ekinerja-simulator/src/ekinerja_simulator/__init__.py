"""A SIMULATOR of BKN e-Kinerja / SIASN for development and tests. Not the real service."""
