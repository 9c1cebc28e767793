/*
 * The dashboard page: subscribes to one device's topics (DESIGN.md section 4) and renders them.
 *
 *   <prefix>/<device>/available  online | offline | stopped (retained)
 *   <prefix>/<device>/result     latest edge_sdk.result/1 JSON (retained): the state on page load
 *   <prefix>/<device>/events     every result: the latency charts see each one
 *   <prefix>/<device>/stats      edge_sdk.stats/1 JSON: fps, publish latency, drops, outbox
 *   <prefix>/<device>/snapshot   raw JPEG bytes of a small frame thumbnail (retained)
 *   <prefix>/<device>/caption    edge_sdk.caption/1 JSON: the latest caption, shown under the thumbnail
 *   <prefix>/<device>/translation  the same schema for a translator: the command and its translation
 *   <prefix>/<device>/search/#   answers to the search box's queries (search.js)
 *
 * config.json (written by `edge-sdk dashboard`) gives the broker's WebSocket URL, the prefix and
 * the device; without a device the page follows the first one it hears from.
 * Message text only ever reaches the page through textContent, never as HTML.
 */
(function () {
  "use strict";

  const STAGES = ["capture", "preprocess", "invoke", "post", "publish"];
  const COLORS = { capture: "#60a5fa", preprocess: "#a78bfa", invoke: "#fbbf24", post: "#34d399",
                   publish: "#f472b6", fps: "#38bdf8" };
  const KINDS = ["available", "result", "events", "stats", "snapshot", "caption", "translation", "search/result",
                 "search/thumbnail/+"];
  const AVAILABILITY = ["online", "offline", "stopped"];
  const SEEN_CAPACITY = 512;
  const CHART_WINDOW_S = 60;

  const $ = (id) => document.getElementById(id);
  const state = {
    device: null,
    seen: new Set(), // "boot:seq" of results already shown: delivery is at least once
    latestTs: -Infinity,
    resultAtMs: null,
    snapshotAtMs: null,
    snapshotUrl: null,
    captionTs: -Infinity,
    search: null,
    series: Object.fromEntries([...STAGES, "fps"].map((name) => [name, new EdgeChart.Series()])),
    timedByResults: new Set(), // stages that results time themselves; stats' p50 fills in the rest
    redraw: false,
  };
  const utf8 = new TextDecoder("utf-8");

  function text(id, value) {
    $(id).textContent = value;
  }

  function formatMs(value) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "—";
    return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`;
  }

  function formatAge(sinceMs) {
    if (sinceMs === null) return "";
    const ageS = Math.max(0, (Date.now() - sinceMs) / 1000);
    return ageS < 1 ? "just now" : ageS < 120 ? `${ageS.toFixed(0)} s ago` : `${(ageS / 60).toFixed(0)} min ago`;
  }

  /** "distance_cm" -> ["distance", "cm"]: channel names carry their unit after the last "_". */
  function splitUnit(name) {
    const match = /^(.*)_([a-z%]+)$/i.exec(name);
    const units = ["cm", "mm", "m", "c", "degc", "pct", "v", "mv", "a", "ma", "lux", "hz", "s", "ms", "g", "kg", "pa", "hpa"];
    if (match && units.includes(match[2].toLowerCase())) return [match[1].replace(/_/g, " "), match[2]];
    return [name.replace(/_/g, " "), ""];
  }

  function setAvailability(payloadText) {
    const value = payloadText.trim();
    const known = AVAILABILITY.includes(value) ? value : "unknown";
    const pill = $("availability");
    pill.dataset.state = known;
    pill.textContent = known;
  }

  // edge_sdk.result/2 carries a typed task result; /1 (older devices) a classifier's fields at the top.
  function taskView(result) {
    if (result.schema !== "edge_sdk.result/2") {
      return { label: result.label, confidence: result.confidence, scores: result.scores || {}, boxes: [] };
    }
    const r = result.result || {};
    if (result.task === "classify") return { label: r.label, confidence: r.confidence, scores: r.scores || {}, boxes: [] };
    if (result.task === "detect") {
      const found = r.detections || [];
      const counts = {};
      for (const d of found) counts[d.label] = (counts[d.label] || 0) + 1;
      const best = found.reduce((a, d) => (a === null || d.score > a.score ? d : a), null);
      const label = found.length ? `${found.length} × ${Object.keys(counts).join(", ")}` : "nothing found";
      const total = Math.max(1, found.length);
      const shares = Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, n / total]));
      return { label, confidence: best ? best.score : null, scores: shares, boxes: found };
    }
    if (result.task === "generate") return { label: r.text || "—", confidence: null, scores: {}, boxes: [] };
    return { label: result.task, confidence: null, scores: {}, boxes: [] };
  }

  function drawBoxes(boxes) {
    const overlay = $("overlay");
    const image = $("snapshot");
    const width = image.naturalWidth || 1, height = image.naturalHeight || 1;
    overlay.setAttribute("viewBox", `0 0 ${width} ${height}`);  // "meet" letterboxes like object-fit: contain
    const ns = "http://www.w3.org/2000/svg";
    overlay.replaceChildren(...boxes.flatMap((d) => {
      const [x0, y0, x1, y1] = d.box;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", x0 * width);
      rect.setAttribute("y", y0 * height);
      rect.setAttribute("width", Math.max(0, x1 - x0) * width);
      rect.setAttribute("height", Math.max(0, y1 - y0) * height);
      const caption = document.createElementNS(ns, "text");
      caption.setAttribute("x", x0 * width + 2);
      caption.setAttribute("y", Math.max(10, y0 * height - 2));
      caption.textContent = `${d.label} ${d.score.toFixed(2)}`;
      return [rect, caption];
    }));
  }

  function renderResult(payload) {
    const result = { ...payload, ...taskView(payload) };
    drawBoxes(result.boxes);
    text("decision-label", result.label ?? "—");
    const confidence = typeof result.confidence === "number" ? result.confidence : null;
    text("decision-confidence", confidence === null ? "—" : `${(confidence * 100).toFixed(1)} %`);
    $("confidence-fill").style.width = `${confidence === null ? 0 : Math.round(confidence * 100)}%`;

    const scores = Object.entries(result.scores || {}).sort((a, b) => b[1] - a[1]).slice(0, 5);
    const list = $("scores");
    list.replaceChildren(...scores.map(([label, score]) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "score-name";
      name.textContent = label;
      const bar = document.createElement("span");
      bar.className = "score-bar";
      const fill = document.createElement("span");
      fill.style.width = `${Math.max(0, Math.min(1, score)) * 100}%`;
      bar.append(fill);
      const value = document.createElement("span");
      value.className = "score-value mono";
      value.textContent = score.toFixed(2);
      item.append(name, bar, value);
      if (label === result.label) item.className = "winner";
      return item;
    }));

    const model = result.model || {};
    text("model-info", [model.name, model.version && `v${model.version}`, model.quant].filter(Boolean).join(" · "));
    text("result-seq", `seq ${result.seq}${result.replayed ? " (replayed)" : ""}`);

    const inputs = result.inputs || {};
    text("input-text", inputs.text ? `“${inputs.text}”` : "—");
    const rows = Object.entries(inputs.sensor || {}).map(([name, value]) => {
      const [label, unit] = splitUnit(name);
      const row = document.createElement("tr");
      row.dataset.channel = name;
      const nameCell = document.createElement("td");
      nameCell.textContent = label;
      const valueCell = document.createElement("td");
      valueCell.className = "sensor-value mono";
      valueCell.textContent = value === null ? "—" : `${Number(value).toFixed(1)}${unit ? ` ${unit}` : ""}`;
      row.append(nameCell, valueCell);
      return row;
    });
    if (!rows.length) {
      const row = document.createElement("tr");
      row.innerHTML = '<td class="muted">no sensor input</td>';
      rows.push(row);
    }
    $("sensor-table").replaceChildren(...rows);
    text("input-skew", typeof inputs.skew_ms === "number" ? formatMs(inputs.skew_ms) : "—");
    const frameAgeMs = typeof inputs.frame_ts === "number" ? (result.ts - inputs.frame_ts) * 1000 : null;
    text("input-frame-age", formatMs(frameAgeMs));
  }

  // a message's JSON, or null (warned) when it is not JSON
  function parseJson(payload, what) {
    try {
      return JSON.parse(utf8.decode(payload));
    } catch (error) {
      console.warn(`${what} is not JSON`, error);
      return null;
    }
  }

  function onResult(payload) {
    const result = parseJson(payload, "result");
    if (result === null) return;
    if (typeof result.schema !== "string" || !result.schema.startsWith("edge_sdk.result/")) return;
    const key = `${result.boot}:${result.seq}`;
    if (state.seen.has(key)) return; // the same result on both `result` and `events`
    state.seen.add(key);
    if (state.seen.size > SEEN_CAPACITY) state.seen.delete(state.seen.values().next().value);

    for (const [stage, ms] of Object.entries(result.timing_ms || {})) {
      if (!state.series[stage]) continue;
      state.series[stage].push(result.ts, ms);
      state.timedByResults.add(stage);
    }
    state.redraw = true;
    // A replayed or late message must not hide a newer decision.
    if (result.ts >= state.latestTs) {
      state.latestTs = result.ts;
      state.resultAtMs = Date.now();
      renderResult(result);
    }
  }

  function onStats(payload) {
    const stats = parseJson(payload, "stats");
    if (stats === null) return;
    const fps = typeof stats.fps_recent === "number" && stats.fps_recent > 0 ? stats.fps_recent : stats.fps;
    if (typeof fps === "number") {
      text("fps", fps.toFixed(1));
      state.series.fps.push(stats.ts, fps);
    }
    // Stages a result does not time itself (publish happens after it is made) come from stats.
    for (const [stage, summary] of Object.entries(stats.stages || {})) {
      const series = state.series[stage];
      if (series && !state.timedByResults.has(stage) && summary && typeof summary.p50_ms === "number") {
        series.push(stats.ts, summary.p50_ms);
      }
    }
    const count = (value) => (typeof value === "number" ? value.toLocaleString("en-US") : "—");
    text("stat-results", count(stats.results));
    text("stat-published", count(stats.published));
    text("stat-drops-frames", count(stats.drops && stats.drops.frames));
    text("stat-drops-dispatch", count(stats.drops && stats.drops.dispatch));
    const outbox = stats.mqtt && stats.mqtt.outbox;
    text("stat-outbox", outbox && typeof outbox.pending === "number" ? count(outbox.pending) : "—");
    state.redraw = true;
  }

  function onSnapshot(payload) {
    if (!payload.length) return;
    const image = $("snapshot");
    const previous = state.snapshotUrl;
    state.snapshotUrl = URL.createObjectURL(new Blob([payload], { type: "image/jpeg" }));
    image.onload = () => {
      if (previous) URL.revokeObjectURL(previous);
      image.classList.add("loaded");
      $("snapshot-empty").hidden = true;
    };
    image.src = state.snapshotUrl;
    state.snapshotAtMs = Date.now();
  }

  // edge_sdk.caption/1: the newest description wins (a replayed older one is ignored)
  function onCaption(payload) {
    const caption = parseJson(payload, "caption");
    if (caption === null) return;
    if (caption.schema !== "edge_sdk.caption/1" || typeof caption.text !== "string") return;
    if (!(caption.ts > state.captionTs)) return; // the same one again (at least once), or older
    state.captionTs = caption.ts;
    $("caption").hidden = false;
    text("caption-text", caption.text || "(empty)");
    const source = $("caption-source");
    source.hidden = typeof caption.source_text !== "string";
    source.textContent = source.hidden ? "" : caption.source_text;
    const ms = typeof caption.total_ms === "number" ? ` · ${formatMs(caption.total_ms)}` : "";
    text("caption-meta", `${caption.task} · beam ${caption.beam_size}${ms}`);
  }

  function route(prefix, topic, payload) {
    if (!topic.startsWith(`${prefix}/`)) return;
    const rest = topic.slice(prefix.length + 1);
    const slash = rest.indexOf("/");
    if (slash < 0) return;
    const device = rest.slice(0, slash);
    const kind = rest.slice(slash + 1);
    if (state.device === null) {
      state.device = device;
      text("device-id", device);
    }
    if (device !== state.device) return;
    if (kind === "available") setAvailability(utf8.decode(payload));
    else if (kind === "result" || kind === "events") onResult(payload);
    else if (kind === "stats") onStats(payload);
    else if (kind === "snapshot") onSnapshot(payload);
    else if (kind === "caption" || kind === "translation") onCaption(payload);
    else if (kind.startsWith("search/") && state.search) state.search.onMessage(kind, payload);
  }

  function draw() {
    if (state.redraw) {
      state.redraw = false;
      for (const stage of STAGES) {
        const series = state.series[stage];
        EdgeChart.drawSeries($(`chart-${stage}`), series, { color: COLORS[stage], windowS: CHART_WINDOW_S });
        text(`stage-${stage}-value`, formatMs(series.last));
      }
      EdgeChart.drawSeries($("chart-fps"), state.series.fps, { color: COLORS.fps, windowS: CHART_WINDOW_S * 5, minSpanS: 30 });
    }
    requestAnimationFrame(draw);
  }

  function tick() {
    text("result-age", formatAge(state.resultAtMs));
    text("snapshot-age", formatAge(state.snapshotAtMs));
  }

  async function main() {
    const config = await (await fetch("config.json", { cache: "no-store" })).json();
    const prefix = config.prefix || "edge_sdk";
    const wsUrl = config.ws_url || `ws://${location.hostname || "127.0.0.1"}:9001/`;
    if (config.device) {
      state.device = config.device;
      text("device-id", config.device);
    }
    text("broker-url", wsUrl);
    const filterDevice = config.device || "+";
    const client = new EdgeMqtt.MqttWsClient(wsUrl, {
      subscriptions: KINDS.map((kind) => `${prefix}/${filterDevice}/${kind}`),
    });
    client.onstatechange = (brokerState, detail) => {
      $("broker-dot").dataset.state = brokerState;
      text("broker-state", detail ? `${brokerState}: ${detail}` : brokerState);
    };
    client.onmessage = (topic, payload) => route(prefix, topic, payload);
    state.search = new EdgeSearch.SearchBox(
      { form: $("search-form"), input: $("search-text"), k: $("search-k"), since: $("search-since"),
        status: $("search-status"), hits: $("search-hits") },
      (kind, payloadText) => state.device !== null && client.publish(`${prefix}/${state.device}/${kind}`, payloadText));
    window.edgeDashboard = { client, state }; // for debugging from the console, and for the tests
    client.connect();
    state.redraw = true;
    requestAnimationFrame(draw);
    setInterval(tick, 1000);
    window.addEventListener("resize", () => { state.redraw = true; });
  }

  main().catch((error) => {
    text("broker-state", `failed to start: ${error.message}`);
    console.error(error);
  });
})();
