"""The serial link: transport, ports, BridgeLink (its reader thread and protocol), actions, readings, line mode."""

__all__: list[str] = []
