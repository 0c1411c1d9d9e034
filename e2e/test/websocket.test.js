"use strict";
// /chat over WebSocket only, and polling and WebSocket clients in one lobby, against one
// server process.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { useServers, sioTest, sleep, SETTLE_MS } = require("../lib/harness");
const { assertEvents, assertInterleaving } = require("../lib/client");

const env = useServers(1);
const RUN = crypto.randomBytes(4).toString("hex");
const WELCOME = [{ text: "Welcome!" }];
const ACK_OK = [{ status: "ok" }];
const WS = { transports: ["websocket"] };
const POLLING = { transports: ["polling"] };

sioTest(env, "websocket only: welcome once each, ack ok, broadcasts both ways received exactly once by both", async (h) => {
  const url = env.servers[0].url;
  const a = await h.chatClient(url, "A", WS);
  const b = await h.chatClient(url, "B", WS); // A must NOT get a second welcome when B joins

  const fromA = `ws hello from A ${RUN}`;
  assert.deepStrictEqual(await a.send(fromA), ACK_OK, "A's ack");
  await Promise.all([a.waitForChats(1), b.waitForChats(1)]);
  const fromB = `ws reply from B ${RUN}`;
  assert.deepStrictEqual(await b.send(fromB), ACK_OK, "B's ack");
  await Promise.all([a.waitForChats(2), b.waitForChats(2)]);
  await sleep(SETTLE_MS);

  for (const c of [a, b]) {
    assertEvents(c.welcomes, WELCOME, `${c.name} system_message`);
    assertEvents(c.chats, [{ text: fromA }, { text: fromB }], `${c.name} chat_message`);
    assert.deepStrictEqual(c.others, [], `${c.name} unexpected events`);
    assert.equal(c.socket.connected, true, `${c.name} still connected`);
    // Opened directly on WebSocket, no polling handshake, no transport change.
    assert.deepStrictEqual(c.transportLog, ["open:websocket"], `${c.name} transport history`);
  }
});

sioTest(env, "mixed: a polling-only and a websocket-only client broadcast both ways", async (h) => {
  const url = env.servers[0].url;
  const p = await h.chatClient(url, "P(polling)", POLLING);
  const w = await h.chatClient(url, "W(websocket)", WS);

  // Turn by turn (each send awaits its ack): every client sees the same order.
  const turns = [
    [p, `polling says 1 ${RUN}`],
    [w, `websocket says 1 ${RUN}`],
    [p, `polling says 2 ${RUN}`],
    [w, `websocket says 2 ${RUN}`],
  ];
  for (const [c, text] of turns) {
    assert.deepStrictEqual(await c.send(text), ACK_OK, `${c.name}'s ack for ${JSON.stringify(text)}`);
  }
  await Promise.all([p.waitForChats(turns.length), w.waitForChats(turns.length)]);

  // Both at once, 20 each without awaiting acks: each sender's messages stay in order.
  const N = 20;
  const streams = [p, w].map((c) => Array.from({ length: N }, (_, i) => ({ text: `${c.name} concurrent ${RUN} #${i}` })));
  const acks = [p, w].flatMap((c, k) => streams[k].map((m) => c.send(m.text)));
  await Promise.all([p.waitForChats(turns.length + 2 * N), w.waitForChats(turns.length + 2 * N)]);
  (await Promise.all(acks)).forEach((args, i) => assert.deepStrictEqual(args, ACK_OK, `ack of concurrent message #${i}`));
  await sleep(SETTLE_MS);

  const ordered = turns.map(([, text]) => ({ text }));
  for (const c of [p, w]) {
    assertEvents(c.chats.slice(0, turns.length), ordered, `${c.name} chat_message (turns)`);
    assertInterleaving(c.chats.slice(turns.length), streams, `${c.name} chat_message (concurrent)`);
    assertEvents(c.welcomes, WELCOME, `${c.name} system_message`);
    assert.deepStrictEqual(c.others, [], `${c.name} unexpected events`);
    assert.equal(c.socket.connected, true, `${c.name} still connected`);
  }
  assert.deepStrictEqual(p.transportLog, ["open:polling"], "P stayed on polling");
  assert.deepStrictEqual(w.transportLog, ["open:websocket"], "W stayed on websocket");
});
