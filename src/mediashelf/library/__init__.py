"""The media library: discovering files, keeping their tracks current."""
