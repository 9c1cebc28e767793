"""edge_sdk: the device runtime."""
