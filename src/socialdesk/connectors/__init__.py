"""Channel connectors: one folder each, all behind the small interface in :mod:`.base`."""
