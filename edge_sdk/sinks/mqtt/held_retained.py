"""The latest retained raw message per topic, held while the link is down and sent when it is up.

A retained message (a dashboard thumbnail, a segmenter's mask) stands for "the current value":
a subscriber that comes later gets the broker's copy. Dropping one while disconnected leaves the
broker's copy stale until the next is due, which may be never on a short run. Holding only the
newest per topic keeps memory bounded by the number of topics and sends nothing already outdated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["HeldRetained"]

Publish = Callable[[str, bytes, int], object]


class HeldRetained:
    """Newest ``(payload, qos)`` per topic while down; :meth:`send_all` on connect.

    One lock orders "down, so hold" against "up, so send": a message is held, sent now or replaced
    by a newer one, and a held one is never sent after a newer one for its topic.
    """

    def __init__(self, max_topics: int = 32) -> None:
        self.max_topics = max_topics
        self._lock = threading.Lock()
        self._held: dict[str, tuple[bytes, int]] = {}
        self.replaced = 0  # held, then superseded before the link came up
        self.refused = 0  # a new topic beyond ``max_topics`` while down

    def __len__(self) -> int:
        return len(self._held)

    def offer(self, topic: str, payload: bytes, qos: int, *, up: Callable[[], bool], publish: Publish) -> bool:
        """Send now when ``up()``, else hold it as the topic's newest; True when sent."""
        with self._lock:
            if up():
                self._held.pop(topic, None)  # a held older one must not follow this one out
                publish(topic, payload, qos)
                return True
            if topic in self._held:
                self.replaced += 1
            elif len(self._held) >= self.max_topics:
                self.refused += 1
                return False
            self._held[topic] = (payload, qos)
            return False

    def send_all(self, publish: Publish) -> int:
        """Send every held message (the link just came up); returns how many."""
        with self._lock:
            held, self._held = self._held, {}
            for topic, (payload, qos) in held.items():
                publish(topic, payload, qos)
            return len(held)
