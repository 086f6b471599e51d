"""The track list: keyset pages with opaque cursors, search, cached counts and facets."""

from mediashelf.library.listing.service import (
    TrackListing,
    facets,
    list_page,
    status_counts,
)

__all__ = ["TrackListing", "facets", "list_page", "status_counts"]
