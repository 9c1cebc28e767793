"""converters: the host toolchain."""
