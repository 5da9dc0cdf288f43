"""Plain Python rules of the evidence context: no I/O, no framework."""
