"use strict";
// Clients leaving the lobby while the others keep chatting: the remaining clients keep
// receiving every message, the gone ones receive nothing more.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { useServers, sioTest, sleep, waitFor, SETTLE_MS } = require("../lib/harness");
const { assertEvents } = require("../lib/client");

const env = useServers(1);
const RUN = crypto.randomBytes(4).toString("hex");
const WELCOME = [{ text: "Welcome!" }];
const ACK_OK = [{ status: "ok" }];
const WS = { transports: ["websocket"] };
const POLLING = { transports: ["polling"] };
// How long a client's DISCONNECT packet is given to reach the server before the others send
// again (the protocol has no acknowledgement for it).
const LEAVE_GRACE_MS = 500;

const msg = (text) => ({ text });

sioTest(env, "clients disconnect (cleanly, and by a dropped WebSocket) while the others keep chatting", async (h) => {
  const url = env.servers[0].url;
  const a = await h.chatClient(url, "A(websocket)", WS);
  const b = await h.chatClient(url, "B(polling)", POLLING);
  const c = await h.chatClient(url, "C(websocket, disconnects)", WS);
  const d = await h.chatClient(url, "D(polling, disconnects)", POLLING);
  const e = await h.chatClient(url, "E(websocket, connection dropped)", WS);

  const m1 = `everyone ${RUN}`;
  assert.deepStrictEqual(await a.send(m1), ACK_OK, "ack of m1");
  await Promise.all([a, b, c, d, e].map((x) => x.waitForChats(1)));

  c.close(); // socket.disconnect(): DISCONNECT packet, then the WebSocket is closed
  d.close(); // the same over polling
  // E's TCP connection is destroyed without a DISCONNECT packet or a WebSocket close frame.
  e.socket.io.engine.transport.ws.terminate(); // ws: destroys the TCP socket at once
  await waitFor(() => e.disconnectReason !== null, "E's disconnect event");
  assert.equal(c.disconnectCause, "io client disconnect", "C's disconnect reason");
  assert.equal(d.disconnectCause, "io client disconnect", "D's disconnect reason");
  assert.equal(e.disconnectCause, "transport close", "E's disconnect reason");
  await sleep(LEAVE_GRACE_MS);

  const m2 = `after three left, from B ${RUN}`;
  const m3 = `after three left, from A ${RUN}`;
  assert.deepStrictEqual(await b.send(m2), ACK_OK, "ack of m2");
  assert.deepStrictEqual(await a.send(m3), ACK_OK, "ack of m3");
  await Promise.all([a.waitForChats(3), b.waitForChats(3)]);

  // A newcomer gets a welcome and only what is said after it joined.
  const f = await h.chatClient(url, "F(websocket, joins late)", WS);
  const m4 = `welcome F, from B ${RUN}`;
  assert.deepStrictEqual(await b.send(m4), ACK_OK, "ack of m4");
  await Promise.all([a.waitForChats(4), b.waitForChats(4), f.waitForChats(1)]);
  await sleep(SETTLE_MS);

  for (const x of [a, b]) {
    assertEvents(x.chats, [m1, m2, m3, m4].map(msg), `${x.name} chat_message`);
    assert.equal(x.socket.connected, true, `${x.name} still connected`);
  }
  assertEvents(f.chats, [msg(m4)], `${f.name} chat_message`);
  for (const x of [c, d, e]) {
    assertEvents(x.chats, [msg(m1)], `${x.name} chat_message`);
    assert.equal(x.socket.connected, false, `${x.name} is disconnected`);
  }
  for (const x of [a, b, c, d, e, f]) {
    assertEvents(x.welcomes, WELCOME, `${x.name} system_message`);
    assert.deepStrictEqual(x.others, [], `${x.name} unexpected events`);
  }
});

// socket.disconnect() also closes the transport, after which nothing could arrive anyway.
// Here the clients send the same DISCONNECT packet ("41/chat,") but keep their Engine.IO
// connection open and keep listening: the server must send them nothing more.
sioTest(env, "a socket that left /chat but kept its transport open receives nothing more (websocket and polling)", async (h) => {
  const url = env.servers[0].url;
  const a = await h.chatClient(url, "A(websocket)", WS);
  const b = await h.chatClient(url, "B(polling)", POLLING);
  const lw = await h.chatClient(url, "L(websocket, leaves /chat)", WS);
  const lp = await h.chatClient(url, "L(polling, leaves /chat)", POLLING);

  const m1 = `before leaving ${RUN}`;
  assert.deepStrictEqual(await b.send(m1), ACK_OK, "ack of m1");
  await Promise.all([a, b, lw, lp].map((x) => x.waitForChats(1)));

  lw.leaveKeepingTransport();
  lp.leaveKeepingTransport();
  await sleep(LEAVE_GRACE_MS);

  const m2 = `after they left, from A ${RUN}`;
  const m3 = `after they left, from B ${RUN}`;
  assert.deepStrictEqual(await a.send(m2), ACK_OK, "ack of m2");
  assert.deepStrictEqual(await b.send(m3), ACK_OK, "ack of m3");
  await Promise.all([a.waitForChats(3), b.waitForChats(3)]);
  await sleep(SETTLE_MS);

  for (const x of [a, b]) {
    assertEvents(x.chats, [m1, m2, m3].map(msg), `${x.name} chat_message`);
    assert.equal(x.socket.connected, true, `${x.name} still connected`);
  }
  for (const x of [lw, lp]) {
    assertEvents(x.chats, [msg(m1)], `${x.name} chat_message`);
    assert.deepStrictEqual(x.dataAfterLeave, [], `${x.name}: Engine.IO messages received after leaving /chat`);
    // Otherwise "nothing more" would hold trivially.
    assert.equal(x.socket.io.engine.readyState, "open", `${x.name}: its Engine.IO connection is still open`);
  }
  for (const x of [a, b, lw, lp]) {
    assertEvents(x.welcomes, WELCOME, `${x.name} system_message`);
    assert.deepStrictEqual(x.others, [], `${x.name} unexpected events`);
  }
});
