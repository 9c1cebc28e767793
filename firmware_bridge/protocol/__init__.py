"""The wire format: COBS framing, CRC, the message types and the streaming frame decoder."""

__all__: list[str] = []
