"""Training as the application runs it: the durable queue of jobs in the store, and the
concepts' states as training moves them (queue.py)."""
