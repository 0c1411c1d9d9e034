"use strict";
// Two server processes sharing one Redis (DynamoDB mode: one DynamoDB table, and no Redis at
// all) behind a plain round-robin proxy (no sticky sessions): consecutive long-polling
// requests of one session land on different processes. Only a server that keeps all session
// state in its shared store can pass; the Node reference peer
// (in-memory state) answers "Session ID unknown" as soon as a request reaches the other
// process, so this test is skipped in SIO_E2E_PEER mode unless SIO_E2E_FORCE_PROXY=1.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { useServers, sioTest, sleep, SETTLE_MS } = require("../lib/harness");
const { assertEvents } = require("../lib/client");
const { isPeerMode, sharedStoreLabel } = require("../lib/server");
const { startRoundRobinProxy } = require("../lib/proxy");

const skip =
  isPeerMode() && process.env.SIO_E2E_FORCE_PROXY !== "1"
    ? "expected to fail against the Node peer: its sessions live in one process's memory and need sticky sessions (run with SIO_E2E_FORCE_PROXY=1 to see it fail)"
    : false;

const env = useServers(2); // long-polling only: in DynamoDB mode the table alone, no Redis relay
const RUN = crypto.randomBytes(4).toString("hex");

// Self-check of the proxy itself (runs in every mode): with a single upstream, every
// request goes to one process, so the same chat must work through it.
sioTest(env, "proxy self-check: chat through the proxy with a single upstream", async (h) => {
  const proxy = await startRoundRobinProxy([env.servers[0].url]);
  h.onFailure(() => proxy.describe());
  try {
    const a = await h.chatClient(proxy.url, "A");
    const b = await h.chatClient(proxy.url, "B");
    const text = `single upstream ${RUN}`;
    assert.deepStrictEqual(await a.send(text), [{ status: "ok" }], "ack");
    await Promise.all([a.waitForChats(1), b.waitForChats(1)]);
    await sleep(SETTLE_MS);
    for (const c of [a, b]) {
      assertEvents(c.welcomes, [{ text: "Welcome!" }], `${c.name} system_message`);
      assertEvents(c.chats, [{ text }], `${c.name} chat_message`);
    }
    assert.ok(proxy.counts[0] >= 4, `requests went through the proxy: [${proxy.counts}]`);
    assert.deepStrictEqual(proxy.errors, [], "no proxy/upstream errors");
  } finally {
    await h.closeAll();
    await proxy.close();
  }
});

sioTest(env, `chat through a round-robin proxy over two server processes sharing ${sharedStoreLabel()}`, { skip }, async (h) => {
  const [s1, s2] = env.servers;
  const proxy = await startRoundRobinProxy([s1.url, s2.url]);
  h.onFailure(() => proxy.describe());
  try {
    const a = await h.chatClient(proxy.url, "A");
    const b = await h.chatClient(proxy.url, "B");

    const text = `via proxy ${RUN}`;
    assert.deepStrictEqual(await a.send(text), [{ status: "ok" }], "ack");
    await Promise.all([a.waitForChats(1), b.waitForChats(1)]);

    const N = 100;
    const texts = Array.from({ length: N }, (_, i) => `proxy burst ${RUN} #${String(i).padStart(3, "0")}`);
    const acks = texts.map((t) => a.send(t));
    await Promise.all([a.waitForChats(1 + N), b.waitForChats(1 + N)]);
    (await Promise.all(acks)).forEach((args, i) => assert.deepStrictEqual(args, [{ status: "ok" }], `ack of burst #${i}`));
    await sleep(SETTLE_MS);

    const expected = [text, ...texts].map((t) => ({ text: t }));
    for (const c of [a, b]) {
      assertEvents(c.welcomes, [{ text: "Welcome!" }], `${c.name} system_message`);
      assertEvents(c.chats, expected, `${c.name} chat_message`);
      assert.deepStrictEqual(c.others, [], `${c.name} unexpected events`);
      assert.equal(c.socket.connected, true, `${c.name} still connected`);
    }
    // The proxy really spread the traffic over both processes.
    assert.ok(proxy.counts[0] >= 5 && proxy.counts[1] >= 5, `both upstreams served requests: [${proxy.counts}]`);
    assert.deepStrictEqual(proxy.errors, [], "no proxy/upstream errors");
  } finally {
    await h.closeAll();
    await proxy.close();
  }
});
