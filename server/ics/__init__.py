"""ICS URLs as read-only busy sources: an adapter of the sync engine (server/sync/)."""
