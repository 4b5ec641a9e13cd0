"""service (see ../shared/DESIGN.md)."""
