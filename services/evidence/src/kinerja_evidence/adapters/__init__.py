"""Tables and the object-storage client."""
