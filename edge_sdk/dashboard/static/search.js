/*
 * The dashboard's search box: text -> <prefix>/<device>/cmd/search (edge_sdk.search-query/1), and the
 * answer on <prefix>/<device>/search/result (edge_sdk.search-result/1) shown as the top-k thumbnails
 * with their frame times and scores. Each hit's JPEG arrives on search/thumbnail/<frame_id> just
 * before the result, so thumbnails are kept by frame id and matched when the result comes.
 * Only the answer to this page's latest request id is shown; text reaches the DOM as textContent.
 */
(function (root) {
  "use strict";

  const MAX_THUMBNAILS = 200;

  class SearchBox {
    constructor(elements, send) {
      this.el = elements; // {form, input, k, since, status, hits}
      this.send = send; // (relativeTopic, payloadText) -> bool
      this.pending = null;
      this.thumbnails = new Map(); // frame id -> blob URL
      this.el.form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.ask();
      });
    }

    ask() {
      const text = this.el.input.value.trim();
      if (!text) {
        this.status("type what to look for, e.g. a red circle on the left");
        return;
      }
      const query = { request_id: `dash-${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 6)}`,
                      text, k: Number(this.el.k.value) || 5 };
      if (this.el.since.value) query.since = this.el.since.value;
      if (!this.send("cmd/search", JSON.stringify(query))) {
        this.status("not connected to the broker");
        return;
      }
      this.pending = query.request_id;
      this.status(`searching for “${text}”…`);
    }

    onMessage(kind, payload) {
      if (kind.startsWith("search/thumbnail/")) {
        const frameId = kind.slice("search/thumbnail/".length);
        const previous = this.thumbnails.get(frameId);
        if (previous) URL.revokeObjectURL(previous);
        this.thumbnails.delete(frameId);
        this.thumbnails.set(frameId, URL.createObjectURL(new Blob([payload], { type: "image/jpeg" })));
        while (this.thumbnails.size > MAX_THUMBNAILS) {
          const [oldest, url] = this.thumbnails.entries().next().value;
          URL.revokeObjectURL(url);
          this.thumbnails.delete(oldest);
        }
      } else if (kind === "search/result") {
        let reply;
        try {
          reply = JSON.parse(new TextDecoder("utf-8").decode(payload));
        } catch (error) {
          console.warn("search result is not JSON", error);
          return;
        }
        if (reply.request_id === this.pending || (reply.request_id === null && this.pending !== null && !reply.ok)) {
          this.pending = null;
          this.render(reply);
        }
      }
    }

    render(reply) {
      if (!reply.ok) {
        this.status(`refused: ${reply.error}`);
        this.el.hits.replaceChildren();
        return;
      }
      const frames = reply.index && typeof reply.index.frames === "number" ? reply.index.frames : "?";
      this.status(`${reply.hits.length} of ${frames} frames, ${reply.took_ms.toFixed(1)} ms on the device`);
      this.el.hits.replaceChildren(...reply.hits.map((hit) => {
        const item = document.createElement("li");
        item.className = "hit";
        item.dataset.frameId = String(hit.frame_id);
        const image = document.createElement("img");
        image.alt = `frame ${hit.frame_id}`;
        const url = this.thumbnails.get(String(hit.frame_id));
        if (url) image.src = url;
        else image.classList.add("missing");
        const caption = document.createElement("div");
        caption.className = "hit-caption mono small";
        const when = new Date(hit.frame_ts * 1000);
        caption.textContent = `#${hit.rank} ${when.toLocaleTimeString()} · ${hit.score.toFixed(3)}`;
        caption.title = when.toISOString();
        item.append(image, caption);
        return item;
      }));
    }

    status(message) {
      this.el.status.textContent = message;
    }
  }

  root.EdgeSearch = { SearchBox };
})(typeof self !== "undefined" ? self : this);
