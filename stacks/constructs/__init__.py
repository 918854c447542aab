"""Infrastructure constructs, one per capability."""
