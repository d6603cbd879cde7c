"""CalDAV accounts (iCloud, Fastmail, Nextcloud, Baikal, any CalDAV server) as a provider of the
sync engine (server/sync/): see server/caldav/provider.py."""
