"""Kinerja evidence service: bukti dukung (supporting evidence) files in S3-compatible storage."""
