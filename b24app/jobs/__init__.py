"""Background work: scans and merges, their state kept in the database."""
