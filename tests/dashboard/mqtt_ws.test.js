// Packet encoding and decoding of the dashboard's MQTT client, byte for byte against MQTT 3.1.1.
// Run by tests/dashboard/test_mqtt_ws_js.py with `node --test`.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const mqtt = require(path.join(__dirname, "..", "..", "edge_sdk", "dashboard", "static", "mqtt-ws.js"));

const hex = (bytes) => Buffer.from(bytes).toString("hex");

test("remaining length is a base-128 varint at the spec's boundaries", () => {
  // MQTT 3.1.1 table 2.4
  const cases = [
    [0, "00"], [127, "7f"], [128, "8001"], [16383, "ff7f"], [16384, "808001"],
    [2097151, "ffff7f"], [2097152, "80808001"], [268435455, "ffffff7f"],
  ];
  for (const [length, expected] of cases) assert.equal(hex(mqtt.encodeRemainingLength(length)), expected, `length ${length}`);
  assert.throws(() => mqtt.encodeRemainingLength(268435456), /remaining length must be 0\.\.268435455\. Got: 268435456/);
  assert.throws(() => mqtt.encodeRemainingLength(-1), RangeError);
});

test("CONNECT has protocol MQTT level 4, clean session, keepalive and the client id", () => {
  const bytes = mqtt.encodeConnect({ clientId: "a", keepaliveS: 30 });
  assert.equal(hex(bytes), "100d00044d5154540402001e000161");
});

test("CONNECT with user name and password sets both flags and appends them in order", () => {
  const bytes = mqtt.encodeConnect({ clientId: "c", keepaliveS: 60, username: "u", password: "p" });
  assert.equal(hex(bytes), "101300044d51545404c2003c000163000175000170");
});

test("SUBSCRIBE carries flags 0b0010, the packet id and each filter with its QoS", () => {
  const bytes = mqtt.encodeSubscribe(1, [{ topic: "a/b", qos: 0 }, { topic: "c", qos: 1 }]);
  assert.equal(hex(bytes), "820c0001" + "0003612f6200" + "00016301");
  assert.throws(() => mqtt.encodeSubscribe(1, []), /at least one topic filter/);
});

test("PUBLISH out is QoS 0: fixed header 0x30, the topic, then the payload with no packet id", () => {
  assert.equal(hex(mqtt.encodePublish("a/b", "hi")), "30070003612f626869");
  const [decoded] = new mqtt.PacketReader().push(mqtt.encodePublish("edge_sdk/pi/cmd/search", '{"k":5}')).map(mqtt.decodePacket);
  assert.equal(decoded.topic, "edge_sdk/pi/cmd/search");
  assert.equal(decoded.qos, 0);
  assert.equal(Buffer.from(decoded.payload).toString(), '{"k":5}');
  assert.throws(() => mqtt.encodePublish("a/+", "x"), /without \+ or #\. Got: a\/\+/);
});

test("PINGREQ, DISCONNECT and PUBACK are the fixed two- and four-byte packets", () => {
  assert.equal(hex(mqtt.encodePingreq()), "c000");
  assert.equal(hex(mqtt.encodeDisconnect()), "e000");
  assert.equal(hex(mqtt.encodePuback(0x1234)), "40021234");
});

test("UTF-8 topic strings are length-prefixed in bytes, not characters", () => {
  assert.equal(hex(mqtt.encodeString("é")), "0002c3a9");
});

test("CONNACK and SUBACK decode into their fields", () => {
  const reader = new mqtt.PacketReader();
  const [connack, suback] = reader.push(Uint8Array.from([0x20, 0x02, 0x01, 0x00, 0x90, 0x04, 0x00, 0x07, 0x00, 0x80]));
  assert.deepEqual(mqtt.decodePacket(connack), { type: "connack", sessionPresent: true, returnCode: 0 });
  assert.deepEqual(mqtt.decodePacket(suback), { type: "suback", packetId: 7, granted: [0, 0x80] });
});

// A QoS 0 retained PUBLISH of topic "t/é" with a binary payload, and a QoS 1 one with packet id 5.
const publishQos0 = Uint8Array.from([0x31, 0x08, 0x00, 0x04, 0x74, 0x2f, 0xc3, 0xa9, 0xff, 0xd8]);
const publishQos1 = Uint8Array.from([0x32, 0x06, 0x00, 0x01, 0x78, 0x00, 0x05, 0x7b]);

test("PUBLISH decodes topic, binary payload, QoS, retain and packet id", () => {
  const reader = new mqtt.PacketReader();
  const [first, second] = reader.push(Uint8Array.from([...publishQos0, ...publishQos1])).map(mqtt.decodePacket);
  assert.equal(first.topic, "t/é");
  assert.deepEqual(Array.from(first.payload), [0xff, 0xd8]);
  assert.equal(first.qos, 0);
  assert.equal(first.retain, true);
  assert.equal(first.packetId, null);
  assert.equal(second.topic, "x");
  assert.equal(second.qos, 1);
  assert.equal(second.packetId, 5);
  assert.equal(new TextDecoder().decode(second.payload), "{");
});

test("packets split across WebSocket messages at every byte are reassembled", () => {
  const stream = Uint8Array.from([...publishQos0, ...publishQos1, 0xd0, 0x00]);
  const reader = new mqtt.PacketReader();
  const packets = [];
  for (const byte of stream) packets.push(...reader.push(Uint8Array.of(byte)));
  assert.deepEqual(packets.map((p) => mqtt.decodePacket(p).type), ["publish", "publish", "pingresp"]);
  assert.equal(reader.buffer.length, 0);
});

test("a large PUBLISH with a three-byte remaining length arrives whole", () => {
  const payload = new Uint8Array(20000).map((_, i) => i % 251);
  const body = [0x00, 0x01, 0x73, ...payload];
  const bytes = Uint8Array.from([0x30, ...mqtt.encodeRemainingLength(body.length), ...body]);
  const reader = new mqtt.PacketReader();
  assert.deepEqual(reader.push(bytes.subarray(0, 1000)), []);
  const [message] = reader.push(bytes.subarray(1000)).map(mqtt.decodePacket);
  assert.equal(message.payload.length, 20000);
  assert.equal(message.payload[20000 - 1], (20000 - 1) % 251);
});

test("a remaining length of more than four bytes is a protocol error", () => {
  const reader = new mqtt.PacketReader();
  assert.throws(() => reader.push(Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), /more than 4 bytes/);
});

// A fake WebSocket that records what the client sends and lets the test play the broker.
class FakeSocket {
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.sent = [];
    this.readyState = 1;
    FakeSocket.last = this;
  }
  send(bytes) { this.sent.push(hex(bytes)); }
  close() { this.readyState = 3; }
  deliver(bytes) { this.onmessage({ data: Uint8Array.from(bytes).buffer }); }
}

test("the client connects with subprotocol mqtt, subscribes after CONNACK and hands PUBLISH payloads over", () => {
  const states = [];
  const messages = [];
  const client = new mqtt.MqttWsClient("ws://127.0.0.1:1/", {
    clientId: "a", keepaliveS: 30, subscriptions: ["a/b"], WebSocketImpl: FakeSocket,
  });
  client.onstatechange = (state) => states.push(state);
  client.onmessage = (topic, payload) => messages.push([topic, Array.from(payload)]);
  client.connect();
  const socket = FakeSocket.last;
  assert.deepEqual(socket.protocols, ["mqtt"]);
  socket.onopen();
  assert.deepEqual(socket.sent, ["100d00044d5154540402001e000161"]);
  socket.deliver([0x20, 0x02, 0x00, 0x00]);
  assert.equal(client.state, "connected");
  assert.equal(socket.sent[1], "82080001" + "0003612f6200");
  assert.equal(client.subscribed, false);
  socket.deliver([0x90, 0x03, 0x00, 0x01, 0x00]);
  assert.equal(client.subscribed, true);
  socket.deliver([...publishQos0, ...publishQos1]);
  assert.deepEqual(messages, [["t/é", [0xff, 0xd8]], ["x", [0x7b]]]);
  assert.equal(socket.sent[2], "40020005", "a QoS 1 PUBLISH is acknowledged");
  client.close();
  assert.deepEqual(states, ["connecting", "connected", "closed"]);
});

test("a refused CONNACK disconnects with the reason and schedules a retry", () => {
  const states = [];
  const client = new mqtt.MqttWsClient("ws://127.0.0.1:1/", { WebSocketImpl: FakeSocket, reconnectMinMs: 60000 });
  client.onstatechange = (state, detail) => states.push([state, detail]);
  client.connect();
  FakeSocket.last.onopen();
  FakeSocket.last.deliver([0x20, 0x02, 0x00, 0x05]);
  assert.deepEqual(states[1], ["disconnected", "broker refused the connection: not authorized"]);
  client.close();
});
