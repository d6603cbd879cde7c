"""Google Calendar: OAuth connection, the API adapter, the blocking policy and event ids. The
bridge loop that uses them is server/gcal_bridge.py."""
