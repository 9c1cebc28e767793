"""The serial link: transport, ports, BridgeLink, its receiver, actions, readings, line mode."""

__all__: list[str] = []
