"""The provider-neutral sync engine (engine.py) and its contract with provider adapters
(provider.py); README.md here explains both. Adapters live in their own packages
(server/google/ today) and are registered by the daemon's entry, server/gcal_bridge.py."""
