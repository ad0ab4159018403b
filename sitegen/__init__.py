"""The static Marketplace site: listings -> pages, rendered into the Material theme by MkDocs."""
