"""The config/KV contract: the config compiler, the versioned schema, bundles and KV keys."""
