"use strict";
const net = require("node:net");

// Asks the kernel for a free TCP port on 127.0.0.1 (small race until the caller binds it;
// the launcher retries on a new port if the server fails to start).
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

module.exports = { freePort };
