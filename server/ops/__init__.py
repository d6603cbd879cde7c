"""Operations: backup and restore (pg_dump / SQLite copies), key rotation, the demo data."""
