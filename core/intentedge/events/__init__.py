"""Events: the vocabulary, the endpoint's batches, the outbox, the beacon and the fold into profiles."""
