"use strict";
// 300-message bursts (sent without awaiting acks) over WebSocket and across transports:
// complete and in order at every receiver, every ack ok.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { useServers, sioTest, sleep, SETTLE_MS } = require("../lib/harness");
const { assertEvents } = require("../lib/client");

const env = useServers(1);
const RUN = crypto.randomBytes(4).toString("hex");
const WELCOME = [{ text: "Welcome!" }];
const ACK_OK = [{ status: "ok" }];
const WS = { transports: ["websocket"] };
const POLLING = { transports: ["polling"] };
const N = 300;

// Connects the clients, has `sender` emit N messages at once, and checks every client.
async function burst(label, sender, receivers, expectedTransports) {
  const texts = Array.from({ length: N }, (_, i) => `${label} ${RUN} #${String(i).padStart(3, "0")}`);
  const acks = texts.map((t) => sender.send(t)); // all emitted before any ack is awaited
  const all = [sender, ...receivers];
  await Promise.all(all.map((c) => c.waitForChats(N)));
  (await Promise.all(acks)).forEach((args, i) => assert.deepStrictEqual(args, ACK_OK, `ack of message #${i}`));
  await sleep(SETTLE_MS);

  const expected = texts.map((text) => ({ text }));
  all.forEach((c, i) => {
    assertEvents(c.chats, expected, `${c.name} chat_message sequence`);
    assertEvents(c.welcomes, WELCOME, `${c.name} system_message`);
    assert.deepStrictEqual(c.others, [], `${c.name} unexpected events`);
    assert.equal(c.socket.connected, true, `${c.name} still connected`);
    assert.deepStrictEqual(c.transportLog, [`open:${expectedTransports[i]}`], `${c.name} transport history`);
  });
}

sioTest(env, "300-message burst from a websocket sender: in order at the sender, a websocket receiver and a polling receiver", async (h) => {
  const url = env.servers[0].url;
  const s = await h.chatClient(url, "sender(websocket)", WS);
  const rw = await h.chatClient(url, "receiver(websocket)", WS);
  const rp = await h.chatClient(url, "receiver(polling)", POLLING);
  await burst("ws burst", s, [rw, rp], ["websocket", "websocket", "polling"]);
});

sioTest(env, "300-message burst from a polling sender: in order at the sender and a websocket receiver", async (h) => {
  const url = env.servers[0].url;
  const s = await h.chatClient(url, "sender(polling)", POLLING);
  const rw = await h.chatClient(url, "receiver(websocket)", WS);
  await burst("polling burst", s, [rw], ["polling", "websocket"]);
});
