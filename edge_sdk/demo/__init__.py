"""The seek demo: its generated world (``seek``), the demo session, its subscriber and scoring.

Nothing else in ``edge_sdk`` imports this package; the CLI registers its command. The device
runtime runs any bundle from any source and knows nothing of the seek world.
"""

__all__: list[str] = []
