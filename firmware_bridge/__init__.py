"""firmware_bridge: serial link to microcontrollers."""
