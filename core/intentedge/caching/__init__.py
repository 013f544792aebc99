"""Caching policy: the base-page cache (pages.py) and the isolate's metadata cache (metadata.py).

What the Worker's page cache and KV reads import; decisions only, no I/O.
"""

from intentedge.caching.metadata import CachePolicy, MetadataCache, State
from intentedge.caching.pages import (STORED_HEADER, CacheStatus, PagePolicy, PageState, normalized_cache_url,
                                      page_policy, page_state, revalidated_policy, revalidation_headers,
                                      server_timing, storage_headers, stored_policy, usable_on_error)

__all__ = ["STORED_HEADER", "CachePolicy", "CacheStatus", "MetadataCache", "PagePolicy", "PageState", "State",
           "normalized_cache_url", "page_policy", "page_state", "revalidated_policy", "revalidation_headers",
           "server_timing", "storage_headers", "stored_policy", "usable_on_error"]
