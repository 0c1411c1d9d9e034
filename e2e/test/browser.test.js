"use strict";
// The chat page at / in a real browser: Debian's Chromium, headless, driven by
// playwright-core (no browser download: the system binary at /usr/bin/chromium). The page
// loads the official browser bundle from our server (-client-js), connects to /chat and
// upgrades to WebSocket. Screenshots of page B go to e2e/artifacts/ for a person to look at.
//
// Without Chromium the tests are skipped, unless SIO_E2E_REQUIRE_BROWSER=1 or CI is set
// (.ci/run sets both): then they fail. Skipped in SIO_E2E_PEER mode (the peer serves no page).
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { after } = require("node:test");
const { useServers, sioTest, sleep, SETTLE_MS } = require("../lib/harness");
const { WAIT_MS, clip } = require("../lib/client");
const { isPeerMode } = require("../lib/server");

const CHROMIUM = process.env.SIO_E2E_CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const CLIENT_BUNDLE = path.join(__dirname, "..", "node_modules", "socket.io-client", "dist", "socket.io.min.js");
const ARTIFACTS = path.join(__dirname, "..", "artifacts");
const REQUIRED = process.env.SIO_E2E_REQUIRE_BROWSER === "1" || !["", "0", "false"].includes(process.env.CI || "");

const skip = isPeerMode()
  ? "the Node reference peer serves no chat page at /"
  : !fs.existsSync(CHROMIUM) && !REQUIRED
    ? `no Chromium at ${CHROMIUM} (apt-get install -y chromium); set SIO_E2E_REQUIRE_BROWSER=1 to fail instead of skipping`
    : false;

const env = useServers(1, { args: ["-client-js", CLIENT_BUNDLE] });
const RUN = crypto.randomBytes(4).toString("hex");

// One browser per file, launched on first use, with a fresh profile directory.
let launched = null;
function browser() {
  if (!launched) {
    launched = (async () => {
      if (!fs.existsSync(CHROMIUM)) {
        throw new Error(`no Chromium at ${CHROMIUM} (SIO_E2E_REQUIRE_BROWSER/CI is set, so this fails; install it with apt-get install -y chromium)`);
      }
      if (!fs.existsSync(CLIENT_BUNDLE)) throw new Error(`socket.io-client browser bundle missing: ${CLIENT_BUNDLE} (run npm ci)`);
      const { chromium } = require("playwright-core");
      const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sio-e2e-chromium-"));
      try {
        const context = await chromium.launchPersistentContext(userDataDir, {
          executablePath: CHROMIUM,
          headless: true,
          args: CHROMIUM_ARGS,
          timeout: 30000,
        });
        // Nothing but the server under test: anything else (a CDN, Google services) is
        // refused at once and reported.
        const external = [];
        await context.route((url) => url.hostname !== "127.0.0.1", (route) => {
          external.push(route.request().url());
          return route.abort("blockedbyclient");
        });
        return { context, userDataDir, external };
      } catch (err) {
        fs.rmSync(userDataDir, { recursive: true, force: true });
        throw new Error(`could not launch Chromium (${CHROMIUM} ${CHROMIUM_ARGS.join(" ")}): ${err.message}`);
      }
    })();
  }
  return launched;
}

after(async () => {
  if (!launched) return;
  const b = await launched.catch(() => null);
  if (!b) return;
  await b.context.close().catch(() => {});
  fs.rmSync(b.userDataDir, { recursive: true, force: true });
}, { timeout: 30000 });

// Opens a page and records what a person would look at in the devtools.
async function openPage(b, url, name) {
  const page = await b.context.newPage();
  const rec = { name, url, page, console: [], pageErrors: [], failed: [], bundleStatus: null };
  page.on("console", (m) => rec.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => rec.pageErrors.push(String(e && e.stack ? e.stack : e)));
  page.on("requestfailed", (r) => rec.failed.push(`${r.method()} ${r.url()}: ${r.failure() && r.failure().errorText}`));
  page.on("response", (r) => {
    if (new URL(r.url()).pathname === "/socket.io.min.js") rec.bundleStatus = r.status();
  });
  await page.goto(url, { waitUntil: "load" });
  return rec;
}

// What the page shows: status, transport and every #log line as "class: text".
function pageState(rec) {
  return rec.page.evaluate(() => ({
    status: document.getElementById("status").textContent,
    transport: document.getElementById("transport").textContent,
    log: [...document.querySelectorAll("#log li")].map((li) => `${li.className}: ${li.textContent}`),
    input: document.getElementById("text").value,
  }));
}

async function waitForPage(rec, predicate, what, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  let state;
  for (;;) {
    state = await pageState(rec);
    if (predicate(state)) return state;
    if (Date.now() > deadline) {
      throw new Error(`page ${rec.name}: timed out after ${timeoutMs} ms waiting for ${what}; page shows ${clip(state, 600)}`);
    }
    await sleep(50);
  }
}

async function screenshot(rec, file) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const out = path.join(ARTIFACTS, file);
  await rec.page.screenshot({ path: out, fullPage: true });
  const png = fs.readFileSync(out);
  assert.ok(png.length > 1000 && png.subarray(1, 4).toString() === "PNG", `${out} is a PNG screenshot (${png.length} bytes)`);
  return out;
}

// Runs fn(b, pages) with the pages opened by it; on failure the error message gets what each
// page shows, its console, errors and failed requests, and a screenshot of each page.
async function withPages(fn) {
  const b = await browser();
  const pages = [];
  try {
    await fn(b, pages);
  } catch (err) {
    let report = `\nexternal requests refused: ${b.external.length ? b.external.join(", ") : "none"}\n`;
    for (const rec of pages) {
      const state = await Promise.race([pageState(rec), sleep(3000).then(() => "(page did not answer)")]).catch((e) => `(${e.message})`);
      const shot = await Promise.race([screenshot(rec, `failure-${RUN}-${rec.name}.png`), sleep(5000)]).catch(() => null);
      report += `page ${rec.name} (${rec.url}): ${clip(state, 2000)}\n  /socket.io.min.js status: ${rec.bundleStatus}\n` +
        `  console: ${clip(rec.console.slice(-20), 1500)}\n  page errors: ${clip(rec.pageErrors, 1000)}\n` +
        `  failed requests: ${clip(rec.failed.slice(-10), 1000)}\n${shot ? `  screenshot: ${shot}\n` : ""}`;
    }
    try { err.message += report; } catch { /* read-only message */ }
    throw err;
  } finally {
    for (const rec of pages) await rec.page.close().catch(() => {});
  }
}

const hasWelcome = (s) => s.status === "connected" && s.log.includes("system: Welcome!");

function assertCleanPage(rec, b) {
  assert.equal(rec.bundleStatus, 200, `page ${rec.name}: /socket.io.min.js served by our server`);
  assert.deepStrictEqual(rec.pageErrors, [], `page ${rec.name}: uncaught errors`);
  assert.deepStrictEqual(b.external, [], "requests to anything but 127.0.0.1");
}

sioTest(env, "browser: two Chromium pages at / get the welcome, upgrade to websocket, and both show a message typed in page A exactly once", { skip }, async () => {
  await withPages(async (b, pages) => {
    const base = env.servers[0].url;
    const a = await openPage(b, `${base}/`, "A");
    pages.push(a);
    await waitForPage(a, hasWelcome, "\"Welcome!\" and status connected");
    const pb = await openPage(b, `${base}/`, "B");
    pages.push(pb);
    await waitForPage(pb, hasWelcome, "\"Welcome!\" and status connected");
    for (const rec of pages) await waitForPage(rec, (s) => s.transport === "via websocket", "\"via websocket\" (the upgrade)");

    const text = `Hello from Chromium ${RUN} — ünïcødé ✓ 😀`;
    await a.page.locator("#text").pressSequentially(text);
    await a.page.click("#send");
    const line = `chat: ${text}`;
    for (const rec of pages) await waitForPage(rec, (s) => s.log.includes(line), `the message ${JSON.stringify(text)}`);
    await sleep(SETTLE_MS);

    for (const rec of pages) {
      const s = await pageState(rec);
      // Exactly the welcome and the message, once each, and still connected over WebSocket.
      assert.deepStrictEqual(s.log, ["system: Welcome!", line], `page ${rec.name} #log`);
      assert.equal(s.status, "connected", `page ${rec.name} status`);
      assert.equal(s.transport, "via websocket", `page ${rec.name} transport`);
      assertCleanPage(rec, b);
    }
    assert.equal((await pageState(a)).input, "", "page A cleared the input after sending");
    await screenshot(pb, "chat-page-B.png");
  });
});

sioTest(env, "browser: a websocket page and a polling page (?transports=...) chat both ways", { skip }, async () => {
  await withPages(async (b, pages) => {
    const base = env.servers[0].url;
    const a = await openPage(b, `${base}/?transports=websocket`, "A(websocket)");
    pages.push(a);
    const pb = await openPage(b, `${base}/?transports=polling`, "B(polling)");
    pages.push(pb);
    for (const rec of pages) await waitForPage(rec, hasWelcome, "\"Welcome!\" and status connected");

    const fromA = `websocket page says hi ${RUN}`;
    const fromB = `polling page answers ${RUN}`;
    for (const [from, text] of [[a, fromA], [pb, fromB]]) {
      await from.page.fill("#text", text);
      await from.page.click("#send");
      for (const rec of pages) await waitForPage(rec, (s) => s.log.includes(`chat: ${text}`), `the message ${JSON.stringify(text)}`);
    }
    await sleep(SETTLE_MS);

    const expectedTransport = { [a.name]: "via websocket", [pb.name]: "via polling" };
    for (const rec of pages) {
      const s = await pageState(rec);
      assert.deepStrictEqual(s.log, ["system: Welcome!", `chat: ${fromA}`, `chat: ${fromB}`], `page ${rec.name} #log`);
      assert.equal(s.status, "connected", `page ${rec.name} status`);
      assert.equal(s.transport, expectedTransport[rec.name], `page ${rec.name} transport`);
      assertCleanPage(rec, b);
    }
    await screenshot(pb, "chat-page-B-polling.png");
  });
});
