"""A ring of preallocated frame buffers in one ``multiprocessing.shared_memory`` segment.

The runtime process creates the segment (:meth:`FrameRing.create`) and so owns it: it unlinks the
name as soon as the capture process says it has mapped it, so that nothing is left in ``/dev/shm``
whatever happens later (both processes keep their mapping; the kernel frees the memory when the last
one unmaps). Until then the creator's ``multiprocessing`` resource tracker would unlink it if the
runtime were killed. The capture process attaches without tracking (:meth:`FrameRing.attach`): on
Python before 3.13 an attach registers the name with a tracker of its own, which would warn and
unlink the creator's segment when the child exits.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

__all__ = ["FrameRing", "tensor_offset"]

_ALIGN_BYTES = 4096  # slots on page boundaries: copies in and out never share a page between two slots
_TENSOR_ALIGN_BYTES = 64  # a cache line: a frame's image input, made in its slot, starts on one


def tensor_offset(frame_bytes: int) -> int:
    """Where in a slot a frame's image input starts when the capture process made it there (after the pixels)."""
    return -(-frame_bytes // _TENSOR_ALIGN_BYTES) * _TENSOR_ALIGN_BYTES


class FrameRing:
    """``slots`` buffers of ``slot_bytes`` each; :meth:`view` gives one as an array of a frame's shape."""

    def __init__(self, shm: SharedMemory, slots: int, slot_bytes: int, *, owner: bool) -> None:
        if slots < 1 or slot_bytes < 1:
            raise ValueError(f"a frame ring needs at least one slot of at least one byte. Got: {slots} x {slot_bytes}")
        if shm.size < slots * slot_bytes:
            raise ValueError(f"shared memory {shm.name} holds {shm.size} bytes. Expected at least {slots * slot_bytes}")
        self.shm, self.slots, self.slot_bytes, self.owner = shm, slots, slot_bytes, owner
        self._buffers: np.ndarray | None = np.ndarray((slots, slot_bytes), np.uint8, buffer=shm.buf)
        self._linked = owner

    @property
    def name(self) -> str:
        return self.shm.name

    @classmethod
    def create(cls, slots: int, frame_bytes: int) -> FrameRing:
        slot_bytes = -(-max(frame_bytes, 1) // _ALIGN_BYTES) * _ALIGN_BYTES
        return cls(SharedMemory(create=True, size=slots * slot_bytes), slots, slot_bytes, owner=True)

    @classmethod
    def attach(cls, name: str, slots: int, slot_bytes: int) -> FrameRing:
        if sys.version_info >= (3, 13):
            shm = SharedMemory(name=name, track=False)  # type: ignore[call-arg,unused-ignore]
        else:
            with _untracked():
                shm = SharedMemory(name=name)
        return cls(shm, slots, slot_bytes, owner=False)

    def fits(self, frame_bytes: int) -> bool:
        return frame_bytes <= self.slot_bytes

    def view(self, slot: int, shape: tuple[int, ...], dtype: str | np.dtype[Any] = "|u1", offset: int = 0) -> np.ndarray:
        """Slot ``slot`` from byte ``offset`` on as an array of ``shape`` (no copy: valid until the slot is
        written again)."""
        if self._buffers is None:
            raise ValueError(f"frame ring {self.name} is closed")
        kind = np.dtype(dtype)
        nbytes = math.prod(shape) * kind.itemsize
        if not 0 <= slot < self.slots or offset < 0 or offset + nbytes > self.slot_bytes:
            raise ValueError(f"frame ring {self.name}: expected a slot in 0..{self.slots - 1} of at most "
                             f"{self.slot_bytes} bytes. Got: slot {slot}, {nbytes} bytes at {offset}")
        return self._buffers[slot, offset:offset + nbytes].view(kind).reshape(shape)

    def unlink(self) -> None:
        """Remove the name (the mappings stay valid); idempotent, only the creator unlinks."""
        if self._linked:
            self._linked = False
            with contextlib.suppress(FileNotFoundError):
                self.shm.unlink()

    def close(self) -> None:
        """Unmap (and, for the creator, unlink if that has not happened yet); idempotent."""
        self._buffers = None  # an exported view would make SharedMemory.close() raise BufferError
        self.unlink()
        with contextlib.suppress(BufferError):  # a caller still holds a view: the mapping goes with it
            self.shm.close()


@contextlib.contextmanager
def _untracked() -> Iterator[None]:
    """No resource-tracker registration for a segment this process attaches to but does not own
    (``SharedMemory(track=False)`` from Python 3.13 on). Called in the capture process only."""
    register = resource_tracker.register

    def skip_shared_memory(name: str, rtype: str) -> None:
        if rtype != "shared_memory":
            register(name, rtype)

    resource_tracker.register = skip_shared_memory  # type: ignore[assignment]
    try:
        yield
    finally:
        resource_tracker.register = register
