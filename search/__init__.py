"""search (see ../shared/DESIGN.md)."""
