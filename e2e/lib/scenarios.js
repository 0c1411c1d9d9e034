"use strict";
// Scenarios shared by several test files.
const assert = require("node:assert/strict");
const { sleep, waitFor, SETTLE_MS } = require("./harness");
const { assertEvents, assertInterleaving, TRANSPORTS_DEFAULT } = require("./client");
const { startRoundRobinProxy } = require("./proxy");

const WELCOME = [{ text: "Welcome!" }];
const ACK_OK = [{ status: "ok" }];
const DEFAULT = { transports: TRANSPORTS_DEFAULT };
const UPGRADED = ["open:polling", "upgrading:websocket", "upgrade:websocket"];

// Upgrade while chatting, through the round-robin proxy over `upstreams` with the WebSocket
// upgrade requests held: two default-transports clients provably chat over polling first;
// then the upgrades are let through while both keep sending (messages sent before, during
// and after the switch); then they chat over WebSocket. Every message must arrive exactly
// once at both clients, each sender's messages in order.
async function chatAcrossUpgrade(h, upstreams, RUN) {
  const proxy = await startRoundRobinProxy(upstreams, { holdUpgrades: true });
  h.onFailure(() => proxy.describe());
  try {
    const a = await h.chatClient(proxy.url, "A", DEFAULT);
    const b = await h.chatClient(proxy.url, "B", DEFAULT);
    await waitFor(() => proxy.heldUpgrades() === 2, "both clients' upgrade requests to reach the proxy");

    // 1. Over polling (the upgrade probes are pending at the proxy).
    const polling = [[a, `polling 1 from A ${RUN}`], [b, `polling 2 from B ${RUN}`]];
    for (const [c, text] of polling) {
      assert.equal(c.transport(), "polling", `${c.name} is still on polling`);
      assert.deepStrictEqual(await c.send(text), ACK_OK, `${c.name}'s ack (polling)`);
    }
    await Promise.all([a.waitForChats(2), b.waitForChats(2)]);
    for (const c of [a, b]) assert.deepStrictEqual(c.transportLog, ["open:polling"], `${c.name} has not upgraded yet`);

    // 2. A stream from each client every 10 ms, without awaiting acks: 5 before the upgrades
    // are released, then on until both clients have upgraded, then 5 more. The text records
    // the sender's transport at emit time (for the failure report).
    const streams = [[], []];
    const acks = [];
    const state = (c) => c.transportLog.includes("upgrade:websocket") ? "upgraded"
      : c.transportLog.includes("upgrading:websocket") ? "upgrading" : `${c.transport()}, not upgraded`;
    const emit = (c, k, note = "") => {
      const text = `stream ${RUN} ${c.name} #${streams[k].length} (${state(c)}${note})`;
      streams[k].push({ text });
      acks.push(c.send(text));
    };
    const emitOne = () => [a, b].forEach((c, k) => emit(c, k));
    // Also one message from inside the engine's "upgrading" event: the probe succeeded and
    // the client is pausing polling, the narrowest "during the upgrade" moment there is.
    [a, b].forEach((c, k) => c.socket.io.engine.once("upgrading", () => emit(c, k, ", sent from the upgrading event")));
    for (let i = 0; i < 5; i++) emitOne();
    proxy.releaseUpgrades();
    let upgraded = false;
    let upgradeErr = null;
    Promise.all([a.waitForUpgrade(), b.waitForUpgrade()]).then(
      () => { upgraded = true; },
      (err) => { upgradeErr = err; }
    );
    while (!upgraded && !upgradeErr && streams[0].length < 500) {
      emitOne();
      await sleep(10);
    }
    if (upgradeErr) throw upgradeErr;
    assert.ok(upgraded, `both clients upgraded within ${streams[0].length} stream messages`);
    for (let i = 0; i < 5; i++) emitOne();
    streams.forEach((s, k) => assert.ok(s.some((m) => m.text.endsWith("sent from the upgrading event)")),
      `stream ${k} has a message sent during the upgrade`));
    const streamed = streams[0].length + streams[1].length;
    await Promise.all([a.waitForChats(2 + streamed), b.waitForChats(2 + streamed)]);
    (await Promise.all(acks)).forEach((args, i) => assert.deepStrictEqual(args, ACK_OK, `ack of stream message #${i}`));

    // 3. Over WebSocket.
    const ws = [[b, `websocket 1 from B ${RUN}`], [a, `websocket 2 from A ${RUN}`]];
    for (const [c, text] of ws) {
      assert.equal(c.transport(), "websocket", `${c.name} is on websocket`);
      assert.deepStrictEqual(await c.send(text), ACK_OK, `${c.name}'s ack (websocket)`);
    }
    await Promise.all([a.waitForChats(4 + streamed), b.waitForChats(4 + streamed)]);
    await sleep(SETTLE_MS);

    for (const c of [a, b]) {
      assertEvents(c.chats.slice(0, 2), polling.map(([, text]) => ({ text })), `${c.name} chat_message (polling)`);
      assertInterleaving(c.chats.slice(2, 2 + streamed), streams, `${c.name} chat_message (stream across the upgrade)`);
      assertEvents(c.chats.slice(2 + streamed), ws.map(([, text]) => ({ text })), `${c.name} chat_message (websocket)`);
      assertEvents(c.welcomes, WELCOME, `${c.name} system_message`);
      assert.deepStrictEqual(c.others, [], `${c.name} unexpected events`);
      assert.equal(c.socket.connected, true, `${c.name} still connected`);
      assert.deepStrictEqual(c.transportLog, UPGRADED, `${c.name} transport history`);
    }
    assert.deepStrictEqual(proxy.upgrades.map((u) => u.status), [101, 101], "both upgrade requests answered 101");
    assert.deepStrictEqual(proxy.errors, [], "no proxy/upstream errors");
  } finally {
    await h.closeAll();
    await proxy.close();
  }
}

module.exports = { chatAcrossUpgrade };
