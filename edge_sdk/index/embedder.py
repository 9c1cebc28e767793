"""The two towers of a retrieval bundle as the index uses them: image frames in, text queries in.

A retrieval bundle (the host toolchain trains one: a dual encoder) holds two signatures with the task
``embed`` into one space: ``embed_image`` (an ``image`` input) and ``embed_text`` (a ``text``
input, with its tokenizer). They are found by those keys, or else by the role of their input.
Each embedder owns its interpreter and serialises calls with a lock, so a query arriving on the
MQTT command thread and one from the dashboard never run the interpreter at once.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Self

import numpy as np
import numpy.typing as npt

from edge_sdk.bundle import Bundle, Manifest, SignatureSpec
from edge_sdk.errors import BundleError

if TYPE_CHECKING:
    from edge_sdk.model import FusionModel
    from edge_sdk.preprocess.image import ColorOrder

__all__ = ["ImageEmbedder", "TextEmbedder", "embed_signature", "embedding_dim", "space_of"]

_KEYS = {"image": "embed_image", "text": "embed_text"}


def embed_signature(manifest: Manifest, role: str) -> SignatureSpec | None:
    """The signature that embeds ``role`` inputs (``image`` or ``text``): ``embed_<role>`` first."""
    candidates = [s for s in manifest.signatures if (s.task or {}).get("kind") == "embed" and s.input(role)]
    return next((s for s in candidates if s.key == _KEYS[role]), candidates[0] if candidates else None)


def embedding_dim(signature: SignatureSpec) -> int:
    output = next((o for o in signature.outputs if o.role == "embedding"), signature.outputs[0])
    return int(output.shape[-1])


def space_of(manifest: Manifest) -> str:
    """Names the embedding space: vectors from two bundles compare only when this is equal."""
    return f"{manifest.model.name}@{manifest.tflite_sha256[:16] or 'unhashed'}"


class _Embedder:
    role = ""

    def __init__(self, model: FusionModel, *, owned: bool) -> None:
        self.model, self._owned = model, owned
        self.dim = embedding_dim(model.signature)
        self.space = space_of(model.manifest)
        self._lock = threading.Lock()
        self._closed = False
        if model.task.kind != "embed" or model.signature.input(self.role) is None:
            raise BundleError(f"the {self.role} embedder needs a signature with an {self.role} input and the task "
                              f"'embed'. Got: signature {model.signature.key!r} with inputs "
                              f"{list(model.roles)} and task {model.task.kind!r}")

    @classmethod
    def from_source(cls, source: str | Path | Bundle | FusionModel, **options: object) -> Self:
        """A bundle (a path or read; its ``embed_<role>`` signature, loaded and owned here) or a loaded model
        (not owned)."""
        from edge_sdk.model import FusionModel

        if isinstance(source, FusionModel):
            return cls(source, owned=False)
        from edge_sdk.bundle import read_bundle

        bundle = source if isinstance(source, Bundle) else read_bundle(source)
        signature = embed_signature(bundle.manifest, cls.role)
        if signature is None:
            keys = [s.key for s in bundle.manifest.signatures]
            raise BundleError(f"bundle {bundle.manifest.model.name!r} has no {cls.role} embedding: expected a signature "
                              f"{_KEYS[cls.role]!r} (task 'embed', an {cls.role} input). Got signatures: {keys}")
        model = FusionModel.from_bundle(bundle, signature=signature.key, **options)  # type: ignore[arg-type]
        try:
            return cls(model, owned=True)
        except BaseException:
            model.close()
            raise

    def _vector(self, **inputs: object) -> npt.NDArray[np.float32]:
        with self._lock:
            result = self.model.predict(**inputs).result  # type: ignore[arg-type]
        return np.asarray(result.vector, dtype=np.float32)  # type: ignore[union-attr]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._owned:
                self.model.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TextEmbedder(_Embedder):
    """``embed(text)``: the unit query vector of a text in the bundle's space."""

    role = "text"

    def embed(self, text: str) -> npt.NDArray[np.float32]:
        return self._vector(text=text)


class ImageEmbedder(_Embedder):
    """``embed(pixels, color_order)``: the unit vector of a frame, with the bundle's image preprocessing."""

    role = "image"

    def embed(self, pixels: npt.NDArray[np.uint8], color_order: ColorOrder = "BGR") -> npt.NDArray[np.float32]:
        return self._vector(image=pixels, color_order=color_order)
