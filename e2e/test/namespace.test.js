"use strict";
// Unknown namespace is refused with connect_error "Invalid namespace".
const assert = require("node:assert/strict");
const { useServers, sioTest, sleep, SETTLE_MS } = require("../lib/harness");

const env = useServers(1);

sioTest(env, "connecting to /nope gives connect_error \"Invalid namespace\"", async (h) => {
  const c = h.client(env.servers[0].url, "/nope", "nope");
  let connected = false;
  c.socket.on("connect", () => { connected = true; });
  const err = await c.connect().then(
    () => assert.fail("connected to /nope, expected connect_error"),
    (e) => e
  );
  assert.ok(err instanceof Error, `connect_error is an Error (got ${typeof err})`);
  assert.equal(err.message, "Invalid namespace");
  await sleep(SETTLE_MS); // a late "connect" or any event would be a bug
  assert.equal(connected, false, "no connect event");
  assert.equal(c.socket.connected, false);
  assert.deepStrictEqual([c.welcomes, c.chats, c.others], [[], [], []], "no events on a refused namespace");

  // The refusal is per namespace: the same server still serves /chat.
  const ok = await h.chatClient(env.servers[0].url, "chat");
  assert.equal(ok.socket.connected, true);
});
