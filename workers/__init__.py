"""workers (see ../shared/DESIGN.md)."""
