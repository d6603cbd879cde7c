"""Thin Radicale plugins (loaded by module name from Radicale's configuration). They delegate
to our own modules and hold no policy."""
