"""Use cases: one async function per command or query."""
