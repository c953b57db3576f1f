"""Storage: SQLite rows and files on disk behind one object, `Store`."""

from .errors import ConceptExists, NotFound, NotOwner, StoreError
from .images import BadImage, open_image, sanitize_image
from .store import Store

__all__ = ["BadImage", "ConceptExists", "NotFound", "NotOwner", "Store", "StoreError", "open_image",
           "sanitize_image"]
