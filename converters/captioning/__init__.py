"""Image captioning and image-conditioned translation on the host: data, metrics, models, export."""
