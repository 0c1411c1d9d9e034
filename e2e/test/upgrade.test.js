"use strict";
// Default transports: the client opens on long-polling and upgrades to WebSocket (the
// handshake announces "upgrades":["websocket"]); chat must go on across the upgrade with
// nothing lost, duplicated or reordered.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { useServers, sioTest, sleep, SETTLE_MS } = require("../lib/harness");
const { assertEvents, TRANSPORTS_DEFAULT } = require("../lib/client");
const { chatAcrossUpgrade } = require("../lib/scenarios");

const env = useServers(1);
const RUN = crypto.randomBytes(4).toString("hex");
const WELCOME = [{ text: "Welcome!" }];
const ACK_OK = [{ status: "ok" }];
const DEFAULT = { transports: TRANSPORTS_DEFAULT };
const UPGRADED = ["open:polling", "upgrading:websocket", "upgrade:websocket"];

sioTest(env, "default transports: both clients upgrade to websocket and keep chatting", async (h) => {
  const url = env.servers[0].url;
  const a = await h.chatClient(url, "A", DEFAULT);
  // Sent as soon as A is connected, without waiting for its upgrade (which may or may not
  // have happened yet: the probe starts right after the polling handshake).
  const early = `early from A ${RUN}`;
  assert.deepStrictEqual(await a.send(early), ACK_OK, "ack of A's early message");
  await a.waitForChats(1);
  const b = await h.chatClient(url, "B", DEFAULT); // joins after the early broadcast

  await Promise.all([a.waitForUpgrade(), b.waitForUpgrade()]);
  for (const c of [a, b]) {
    assert.equal(c.transport(), "websocket", `${c.name} transport after the upgrade event`);
  }

  const after = [[b, `after upgrade from B ${RUN}`], [a, `after upgrade from A ${RUN}`]];
  for (const [c, text] of after) assert.deepStrictEqual(await c.send(text), ACK_OK, `${c.name}'s ack`);
  await Promise.all([a.waitForChats(3), b.waitForChats(2)]);
  await sleep(SETTLE_MS);

  const later = after.map(([, text]) => ({ text }));
  assertEvents(a.chats, [{ text: early }, ...later], "A chat_message");
  assertEvents(b.chats, later, "B chat_message");
  for (const c of [a, b]) {
    assertEvents(c.welcomes, WELCOME, `${c.name} system_message`);
    assert.deepStrictEqual(c.others, [], `${c.name} unexpected events`);
    assert.equal(c.socket.connected, true, `${c.name} still connected`);
    assert.deepStrictEqual(c.transportLog, UPGRADED, `${c.name} transport history`);
    assert.equal(c.transport(), "websocket", `${c.name} ends on websocket`);
  }
});

// The proxy holds the WebSocket upgrade requests, so the clients provably chat over polling
// first; then the upgrades are let through while both keep sending (messages sent before,
// during and after the switch), then they chat over WebSocket (lib/scenarios.js).
sioTest(env, "upgrade while chatting: messages sent before, during and after the upgrade arrive exactly once, in order", async (h) => {
  await chatAcrossUpgrade(h, [env.servers[0].url], RUN);
});
