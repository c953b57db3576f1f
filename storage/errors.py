"""What can go wrong in the store, as exceptions the assistant can turn into replies.

Convention (the same for every `Store` method):

- Lookups (`get_*`, `find_*`, `active_job_for_concept`) return None when nothing matches.
- Updates and deletes of one row by id return a bool (False: the row is gone). A concept can be
  forgotten while its training job runs, and the runner must never trip over that.
- Creating something under a parent that does not exist raises `NotFound`: the caller's intent
  cannot be met and saying nothing would lose the user's data silently.
- Bad photos raise `storage.images.BadImage` (a ValueError, kept apart from `StoreError`
  because it is about the user's input, not about the store).
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the store's own errors."""


class ConceptExists(StoreError):
    """The owner already has a concept with that (normalized) name."""


class NotFound(StoreError):
    """A row the operation needs (user, chat, concept, job) does not exist."""


class NotOwner(StoreError):
    """Only the concept's owner may do this (rename, share)."""
