"""Caching policy: the base-page cache and the isolate's metadata cache."""
