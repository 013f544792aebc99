"""Writing the backend jobs' output to Workers KV, locally or remotely, in bulk and idempotently.

    store = open_store("local")                       # targets.py: --local or --remote
    report = sync(store, entries, prefix="profile/", progress=Console())     # sync.py

The modules, each importing only the ones above it:

    errors.py      KVError and its subclasses (imports nothing)
    store.py       the KVStore protocol every store implements, the Entry it writes, bulk batches
    transport.py   one HTTP request and its response, and the real transport on urllib
    cloudflare.py  CloudflareKV: the account's namespace through Cloudflare's REST API
    local.py       LocalKV: the local KV that `wrangler dev` reads (and WranglerKV, one key at a time)
    targets.py     open_store("local" | "remote")
    sync.py        plan, sync and publish_config: write only what KV lacks
    console.py     Console: what a sync prints as it goes

Import from the modules; this package file imports nothing, so that wrangler.py can raise
errors.WranglerError while local.py uses wrangler.py.
"""
