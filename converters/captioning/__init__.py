"""Image captioning and image-conditioned translation on the host: data, metrics, models, export."""

__all__: list[str] = []
