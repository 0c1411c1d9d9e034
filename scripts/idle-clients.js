// Opens N official socket.io-client connections to a server's /chat and keeps them idle: the
// load of scripts/idle-memory. Usage: node idle-clients.js URL N TRANSPORT (websocket|polling).
// Prints "connected N" once every client got the chat's welcome, then waits for SIGTERM.
"use strict";
const path = require("path");
const { io } = require(path.join(__dirname, "..", "e2e", "node_modules", "socket.io-client"));

const [url, nArg, transport] = process.argv.slice(2);
const n = Number(nArg);
const batch = 50; // connections opened at once
const sockets = [];
let welcomed = 0;
let closing = false;

function open(i) {
  return new Promise((resolve, reject) => {
    const s = io(url + "/chat", { transports: [transport], reconnection: false, forceNew: true, timeout: 20000 });
    s.once("system_message", () => {
      welcomed++;
      resolve();
    });
    s.once("connect_error", (err) => reject(new Error(`client ${i}: ${err.message}`)));
    s.on("disconnect", (reason) => {
      if (closing) return;
      console.error(`client ${i} disconnected: ${reason}`);
      process.exit(1);
    });
    sockets.push(s);
  });
}

(async () => {
  for (let i = 0; i < n; i += batch) {
    const opening = [];
    for (let k = i; k < Math.min(n, i + batch); k++) opening.push(open(k));
    await Promise.all(opening);
  }
  console.log(`connected ${welcomed}`);
})().catch((err) => {
  console.error(err.message);
  process.exit(1);
});

process.on("SIGTERM", () => {
  closing = true;
  for (const s of sockets) s.close();
  process.exit(0);
});
