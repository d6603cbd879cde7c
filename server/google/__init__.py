"""Google Calendar, the sync engine's first provider adapter (server/google/provider.py): OAuth
connection, the API client, reading (sync tokens), writing (deterministic event ids, batches),
push channels, settings. The provider-neutral engine that drives it is server/sync/."""
