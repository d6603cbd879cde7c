"""Publishing: what a link shows (ICS feeds, the CalDAV mount, free/busy and slots), rendered
from the domain through the redaction layer, with its caches and the links' addresses."""
