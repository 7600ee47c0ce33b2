"""Sending requests: an account's key, its HTTP client and rate limit (transport), and the reads of
runs by id outside a walk of pages (by_id)."""
