"""Kinerja ekinerja-sync: mirrors final assessment results into BKN e-Kinerja, with a sync log."""
