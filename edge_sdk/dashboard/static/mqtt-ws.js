/*
 * A minimal MQTT 3.1.1 client over WebSockets, written for the edge_sdk dashboard.
 *
 * Why our own: the dashboard must work with no network at run time (no CDN), and a subscriber
 * that only receives needs a small part of the protocol: CONNECT/CONNACK, SUBSCRIBE/SUBACK,
 * PUBLISH in (QoS 0, and a PUBACK should a broker ever send QoS 1), PINGREQ/PINGRESP; and PUBLISH
 * out at QoS 0 for the few commands the page sends (the search box's cmd/search). Binary
 * WebSocket frames with the "mqtt" subprotocol, as Mosquitto and amqtt expect (MQTT 3.1.1
 * section 6). A WebSocket message may carry part of a packet or several packets, so incoming
 * bytes go through a PacketReader that reassembles them.
 *
 * Works as a browser <script> (window.EdgeMqtt) and as a Node module (tests).
 */
(function (root, factory) {
  "use strict";
  const api = factory();
  if (typeof module === "object" && module.exports) {
    module.exports = api;
  } else {
    root.EdgeMqtt = api;
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  const TYPE = Object.freeze({
    CONNECT: 1, CONNACK: 2, PUBLISH: 3, PUBACK: 4, SUBSCRIBE: 8, SUBACK: 9,
    PINGREQ: 12, PINGRESP: 13, DISCONNECT: 14,
  });
  const MAX_REMAINING_LENGTH = 268435455; // four varint bytes, MQTT 3.1.1 section 2.2.3
  const CONNACK_REASONS = {
    1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
    4: "bad user name or password", 5: "not authorized",
  };

  const encoder = new TextEncoder();
  const decoder = new TextDecoder("utf-8");

  function encodeRemainingLength(length) {
    if (!Number.isInteger(length) || length < 0 || length > MAX_REMAINING_LENGTH) {
      throw new RangeError(`remaining length must be 0..${MAX_REMAINING_LENGTH}. Got: ${length}`);
    }
    const bytes = [];
    do {
      let digit = length % 128;
      length = Math.floor(length / 128);
      if (length > 0) digit |= 0x80;
      bytes.push(digit);
    } while (length > 0);
    return bytes;
  }

  /** A UTF-8 string with its two-byte length prefix. */
  function encodeString(text) {
    const bytes = encoder.encode(text);
    if (bytes.length > 0xffff) throw new RangeError(`string longer than 65535 bytes: ${bytes.length}`);
    return [bytes.length >> 8, bytes.length & 0xff, ...bytes];
  }

  function packet(firstByte, body) {
    return Uint8Array.from([firstByte, ...encodeRemainingLength(body.length), ...body]);
  }

  function encodeConnect({ clientId, keepaliveS = 30, cleanSession = true, username, password }) {
    if (!Number.isInteger(keepaliveS) || keepaliveS < 0 || keepaliveS > 0xffff) {
      throw new RangeError(`keepaliveS must be 0..65535. Got: ${keepaliveS}`);
    }
    let flags = cleanSession ? 0x02 : 0;
    const payload = [...encodeString(clientId)];
    if (username !== undefined && username !== null) {
      flags |= 0x80;
      payload.push(...encodeString(username));
      if (password !== undefined && password !== null) {
        flags |= 0x40;
        payload.push(...encodeString(password));
      }
    }
    const header = [...encodeString("MQTT"), 4, flags, keepaliveS >> 8, keepaliveS & 0xff];
    return packet(TYPE.CONNECT << 4, [...header, ...payload]);
  }

  /** filters: [{topic, qos}]; SUBSCRIBE has the fixed-header flags 0b0010 (section 3.8.1). */
  function encodeSubscribe(packetId, filters) {
    if (!filters.length) throw new RangeError("SUBSCRIBE needs at least one topic filter");
    const body = [packetId >> 8, packetId & 0xff];
    for (const { topic, qos = 0 } of filters) body.push(...encodeString(topic), qos);
    return packet((TYPE.SUBSCRIBE << 4) | 0x02, body);
  }

  /** PUBLISH at QoS 0 (no packet id, MQTT 3.1.1 section 3.3.2.2); ``payload`` is a string or bytes. */
  function encodePublish(topic, payload) {
    if (!topic || /[+#]/.test(topic)) throw new RangeError(`PUBLISH topic must be non-empty, without + or #. Got: ${topic}`);
    const bytes = typeof payload === "string" ? encoder.encode(payload) : Uint8Array.from(payload);
    return packet(TYPE.PUBLISH << 4, [...encodeString(topic), ...bytes]);
  }

  function encodePuback(packetId) {
    return packet(TYPE.PUBACK << 4, [packetId >> 8, packetId & 0xff]);
  }

  function encodePingreq() {
    return packet(TYPE.PINGREQ << 4, []);
  }

  function encodeDisconnect() {
    return packet(TYPE.DISCONNECT << 4, []);
  }

  /** Reassembles packets from a byte stream delivered in arbitrary pieces. */
  class PacketReader {
    constructor() {
      this.buffer = new Uint8Array(0);
    }

    /** Appends bytes; returns the complete packets as [{type, flags, body}]. */
    push(chunk) {
      const merged = new Uint8Array(this.buffer.length + chunk.length);
      merged.set(this.buffer, 0);
      merged.set(chunk, this.buffer.length);
      const packets = [];
      let offset = 0;
      for (;;) {
        if (merged.length - offset < 2) break;
        let length = 0;
        let multiplier = 1;
        let index = offset + 1;
        let complete = false;
        for (let count = 0; count < 4 && index < merged.length; count++) {
          const digit = merged[index++];
          length += (digit & 0x7f) * multiplier;
          multiplier *= 128;
          if ((digit & 0x80) === 0) {
            complete = true;
            break;
          }
          if (count === 3) throw new RangeError("malformed remaining length: more than 4 bytes");
        }
        if (!complete || merged.length - index < length) break;
        const first = merged[offset];
        packets.push({ type: first >> 4, flags: first & 0x0f, body: merged.slice(index, index + length) });
        offset = index + length;
      }
      this.buffer = merged.slice(offset);
      return packets;
    }
  }

  /** Reads the fields of a packet from PacketReader into a plain object. */
  function decodePacket({ type, flags, body }) {
    switch (type) {
      case TYPE.CONNACK:
        return { type: "connack", sessionPresent: (body[0] & 1) === 1, returnCode: body[1] };
      case TYPE.PUBLISH: {
        const qos = (flags >> 1) & 0x03;
        const topicLength = (body[0] << 8) | body[1];
        const topic = decoder.decode(body.subarray(2, 2 + topicLength));
        let offset = 2 + topicLength;
        let packetId = null;
        if (qos > 0) {
          packetId = (body[offset] << 8) | body[offset + 1];
          offset += 2;
        }
        return { type: "publish", topic, payload: body.slice(offset), qos, packetId,
                 retain: (flags & 1) === 1, dup: (flags & 8) === 8 };
      }
      case TYPE.SUBACK:
        return { type: "suback", packetId: (body[0] << 8) | body[1], granted: Array.from(body.subarray(2)) };
      case TYPE.PINGRESP:
        return { type: "pingresp" };
      default:
        return { type: "other", code: type };
    }
  }

  /**
   * A subscriber that reconnects by itself.
   *
   *   const client = new MqttWsClient("ws://127.0.0.1:9001", {subscriptions: ["a/b", "a/c"]});
   *   client.onmessage = (topic, payloadBytes, packet) => ...;
   *   client.onstatechange = (state, detail) => ...;   // connecting | connected | disconnected | closed
   *   client.connect();
   */
  class MqttWsClient {
    constructor(url, options = {}) {
      this.url = url;
      this.clientId = options.clientId || `edge-sdk-dash-${Math.random().toString(16).slice(2, 10)}`;
      this.keepaliveS = options.keepaliveS ?? 30;
      this.subscriptions = options.subscriptions || [];
      this.reconnectMinMs = options.reconnectMinMs ?? 1000;
      this.reconnectMaxMs = options.reconnectMaxMs ?? 15000;
      this.WebSocketImpl = options.WebSocketImpl || (typeof WebSocket !== "undefined" ? WebSocket : null);
      this.onmessage = () => {};
      this.onstatechange = () => {};
      this.state = "idle";
      this.received = 0; // PUBLISH packets received, for the page and the tests
    this.subscribed = false; // true once SUBACK granted every filter
      this._socket = null;
      this._timers = { ping: null, retry: null };
      this._retryMs = this.reconnectMinMs;
      this._nextPacketId = 1;
      this._lastInboundMs = 0;
    }

    connect() {
      if (this.state === "connecting" || this.state === "connected") return;
      this._setState("connecting");
      const socket = new this.WebSocketImpl(this.url, ["mqtt"]);
      socket.binaryType = "arraybuffer";
      const reader = new PacketReader();
      this._socket = socket;
      socket.onopen = () => {
        this._lastInboundMs = Date.now();
        this.subscribed = false;
        socket.send(encodeConnect({ clientId: this.clientId, keepaliveS: this.keepaliveS }));
      };
      socket.onmessage = (event) => {
        if (socket !== this._socket) return;
        this._lastInboundMs = Date.now();
        let packets;
        try {
          packets = reader.push(new Uint8Array(event.data));
        } catch (error) {
          this._drop(`protocol error: ${error.message}`);
          return;
        }
        for (const raw of packets) this._handle(decodePacket(raw));
      };
      socket.onerror = () => {}; // onclose follows with the code; an error event carries no detail
      socket.onclose = (event) => {
        if (socket === this._socket) this._drop(`connection closed (code ${event.code})`);
      };
    }

    /** Send ``payload`` to ``topic`` at QoS 0; false (nothing sent) while not connected. */
    publish(topic, payload) {
      if (this.state !== "connected" || !this._socket || this._socket.readyState !== 1) return false;
      this._socket.send(encodePublish(topic, payload));
      return true;
    }

    close() {
      this._clearTimers();
      const socket = this._socket;
      this._socket = null;
      if (socket && socket.readyState === 1) socket.send(encodeDisconnect());
      if (socket) socket.close();
      this._setState("closed");
    }

    _handle(message) {
      if (message.type === "connack") {
        if (message.returnCode !== 0) {
          const reason = CONNACK_REASONS[message.returnCode] || `code ${message.returnCode}`;
          this._drop(`broker refused the connection: ${reason}`);
          return;
        }
        this._retryMs = this.reconnectMinMs;
        this._setState("connected");
        if (this.subscriptions.length) {
          const filters = this.subscriptions.map((topic) => ({ topic, qos: 0 }));
          this._socket.send(encodeSubscribe(this._packetId(), filters));
        }
        this._startPing();
      } else if (message.type === "suback") {
        // 0x80 per filter is a refusal (MQTT 3.1.1 section 3.9.3), e.g. by the broker's ACL.
        this.subscribed = !message.granted.includes(0x80);
        if (!this.subscribed) console.warn("broker refused a subscription", message.granted);
      } else if (message.type === "publish") {
        if (message.qos === 1) this._socket.send(encodePuback(message.packetId));
        this.received += 1;
        try {
          this.onmessage(message.topic, message.payload, message);
        } catch (error) {
          // A rendering bug must not take the connection down; the console keeps the trace.
          console.error("onmessage failed", error);
        }
      }
    }

    _startPing() {
      if (!this.keepaliveS) return;
      const periodMs = (this.keepaliveS * 1000) / 2;
      this._timers.ping = setInterval(() => {
        // Nothing heard for 1.5 keepalives, not even a PINGRESP: the link is dead (section 3.1.2.10).
        if (Date.now() - this._lastInboundMs > this.keepaliveS * 1500) {
          this._drop("keepalive timeout");
        } else if (this._socket && this._socket.readyState === 1) {
          this._socket.send(encodePingreq());
        }
      }, periodMs);
    }

    _drop(detail) {
      this._clearTimers();
      const socket = this._socket;
      this._socket = null;
      if (socket) socket.close();
      if (this.state === "closed") return;
      this._setState("disconnected", detail);
      const delayMs = this._retryMs;
      this._retryMs = Math.min(this._retryMs * 2, this.reconnectMaxMs);
      this._timers.retry = setTimeout(() => {
        this._setState("idle");
        this.connect();
      }, delayMs);
    }

    _clearTimers() {
      clearInterval(this._timers.ping);
      clearTimeout(this._timers.retry);
      this._timers = { ping: null, retry: null };
    }

    _packetId() {
      const id = this._nextPacketId;
      this._nextPacketId = id === 0xffff ? 1 : id + 1;
      return id;
    }

    _setState(state, detail) {
      this.state = state;
      this.onstatechange(state, detail);
    }
  }

  return {
    TYPE, MAX_REMAINING_LENGTH, encodeRemainingLength, encodeString, encodeConnect, encodeSubscribe,
    encodePublish, encodePuback, encodePingreq, encodeDisconnect, PacketReader, decodePacket, MqttWsClient,
  };
});
