"use strict";
// Fan-out: one broadcast reaches each of 50 polling clients exactly once.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { useServers, sioTest, sleep, SETTLE_MS } = require("../lib/harness");
const { assertEvents } = require("../lib/client");

const env = useServers(1);
const RUN = crypto.randomBytes(4).toString("hex");

sioTest(env, "50 clients connect; one broadcast reaches all 50 exactly once", async (h) => {
  const url = env.servers[0].url;
  const N = 50;
  // Connect in waves of 10 to keep the connection storm modest on a 2-core machine.
  const clients = [];
  for (let wave = 0; wave < N; wave += 10) {
    const batch = [];
    for (let i = wave; i < Math.min(N, wave + 10); i++) batch.push(h.chatClient(url, `c${i}`));
    clients.push(...(await Promise.all(batch)));
  }
  assert.equal(clients.length, N);
  assert.equal(new Set(clients.map((c) => c.socket.id)).size, N, "50 distinct socket ids");

  const text = `fan-out ${RUN}`;
  assert.deepStrictEqual(await clients[17].send(text), [{ status: "ok" }], "ack");
  await Promise.all(clients.map((c) => c.waitForChats(1)));
  await sleep(SETTLE_MS);

  for (const c of clients) {
    assertEvents(c.chats, [{ text }], `${c.name} chat_message`);
    assertEvents(c.welcomes, [{ text: "Welcome!" }], `${c.name} system_message`);
    assert.deepStrictEqual(c.others, [], `${c.name} unexpected events`);
  }
});
