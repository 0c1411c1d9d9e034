"use strict";
// /chat basics against one server process: welcome, ack, broadcast, burst order, payload fidelity.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { useServers, sioTest, sleep, SETTLE_MS } = require("../lib/harness");
const { assertEvents } = require("../lib/client");

const env = useServers(1);
const RUN = crypto.randomBytes(4).toString("hex"); // makes texts unique to this run
const WELCOME = [{ text: "Welcome!" }];
const ACK_OK = [{ status: "ok" }];

sioTest(env, "two clients: welcome once each, ack ok, broadcast received exactly once by both", async (h) => {
  const url = env.servers[0].url;
  const a = await h.chatClient(url, "A");
  const b = await h.chatClient(url, "B"); // A must NOT get a second welcome when B joins

  const text = `hello from A ${RUN}`;
  const ack = await a.send(text);
  assert.deepStrictEqual(ack, ACK_OK, "ack arguments");

  await Promise.all([a.waitForChats(1), b.waitForChats(1)]);
  await sleep(SETTLE_MS); // quiet period: late duplicates would show up now

  for (const c of [a, b]) {
    assertEvents(c.welcomes, WELCOME, `${c.name} system_message`);
    assertEvents(c.chats, [{ text }], `${c.name} chat_message`);
    assert.deepStrictEqual(c.others, [], `${c.name} unexpected events`);
    assert.equal(c.socket.connected, true, `${c.name} still connected`);
  }
});

sioTest(env, "300-message burst without awaiting acks arrives complete and in order", async (h) => {
  const url = env.servers[0].url;
  const a = await h.chatClient(url, "sender");
  const b = await h.chatClient(url, "receiver");

  const N = 300;
  const texts = Array.from({ length: N }, (_, i) => `burst ${RUN} #${String(i).padStart(3, "0")}`);
  const acks = texts.map((t) => a.send(t)); // all emitted before any ack is awaited

  await Promise.all([b.waitForChats(N), a.waitForChats(N)]);
  const ackArgs = await Promise.all(acks);
  ackArgs.forEach((args, i) => assert.deepStrictEqual(args, ACK_OK, `ack of message #${i}`));
  await sleep(SETTLE_MS);

  const expected = texts.map((text) => ({ text }));
  assertEvents(b.chats, expected, "receiver chat_message sequence");
  assertEvents(a.chats, expected, "sender chat_message sequence");
  for (const c of [a, b]) {
    assertEvents(c.welcomes, WELCOME, `${c.name} system_message`);
    assert.deepStrictEqual(c.others, [], `${c.name} unexpected events`);
  }
});

// Tricky text: emoji (incl. skin tone, ZWJ sequence, flag), CJK, RTL (Arabic, Hebrew) with
// bidi marks, combining characters (must not be normalized), U+2028/U+2029, quotes,
// backslashes, JSON-looking and Socket.IO-looking fragments, control characters
// (including the Engine.IO polling record separator U+001E) and a BOM/ZWSP.
const UNICODE_TEXT = [
  "emoji: 😀 👋🏽 👨‍👩‍👧‍👦 🇯🇵 🏳️‍🌈",
  "CJK: 你好，世界 日本語のテキスト 한국어 텍스트 𠜎𠜱 (astral CJK)",
  "RTL: مرحبا بالعالم \u200Fשלום עולם\u200E mixed עברית and English",
  "combining: e\u0301 a\u0308 n\u0303 Z\u0351\u0352\u0353 (NFD, not NFC) vs \u00e9",
  "separators: [\u2028] [\u2029] newline:[\n] cr:[\r] tab:[\t] rs:[\u001e] nul:[\u0000]",
  `quotes: "double" 'single' \`back\` \u201Ccurly\u201D`,
  "backslashes: \\ \\\\ \\n \\u0041 \\\" C:\\path\\to\\file",
  'json-ish: {"text":"nested"} ["x",1] 42["chat_message",{}] 4 2 ',
  "bom/zwsp: [\uFEFF] [\u200B] <script>&amp;</script>",
].join("\n");

function bigText(bytes) {
  // Deterministic, non-repeating-looking content with some multi-byte characters.
  const parts = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const chunk = `${i.toString(36)}:${((i * 2654435761) >>> 0).toString(16)}${i % 97 === 0 ? " é中😀\u2028" : ""};`;
    parts.push(chunk);
    size += Buffer.byteLength(chunk);
  }
  return `${RUN}|${parts.join("")}|end`;
}

sioTest(env, "unicode text and a 200 KB message arrive intact", async (h) => {
  const url = env.servers[0].url;
  const a = await h.chatClient(url, "A");
  const b = await h.chatClient(url, "B");

  const big = bigText(200 * 1024);
  assert.ok(Buffer.byteLength(big) >= 200 * 1024, "big message is at least 200 KB of UTF-8");
  const texts = [`${RUN} ${UNICODE_TEXT}`, big];

  for (const text of texts) {
    assert.deepStrictEqual(await a.send(text), ACK_OK, `ack (text of ${text.length} UTF-16 units)`);
  }
  await Promise.all([a.waitForChats(texts.length), b.waitForChats(texts.length)]);
  await sleep(SETTLE_MS);

  const expected = texts.map((text) => ({ text }));
  for (const c of [a, b]) {
    assertEvents(c.chats, expected, `${c.name} chat_message`);
    assertEvents(c.welcomes, WELCOME, `${c.name} system_message`);
    assert.deepStrictEqual(c.others, [], `${c.name} unexpected events`);
  }
});
