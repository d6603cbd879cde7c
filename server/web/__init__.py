"""WSGI plumbing around the applications: proxy headers, public sub-path, access log, metrics."""
