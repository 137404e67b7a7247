// Opens COUNT sockets with the official socket.io-client, each emitting `subscribe` to ROOM
// in its `connect` handler (the documented pattern), for tests/api/realtime_subscribe.rs.
// Usage: node burst.js URL TOKEN ROOM COUNT
// Prints one JSON line when every socket is settled:
// {"acked": n, "refused": n, "lost": n, "connect_errors": n, "unsettled": n, "first_error": "..."}
// where "lost" counts subscriptions that got no acknowledgement within 10 s, and "unsettled"
// the sockets neither connected nor refused after 90 s (the totals are printed then).
"use strict";

const { io } = require("socket.io-client");

const [url, token, room, countArg] = process.argv.slice(2);
const count = Number(countArg);
const totals = { acked: 0, refused: 0, lost: 0, connect_errors: 0, unsettled: 0, first_error: null };
const sockets = [];
let settled = 0;

const report = () => {
  totals.unsettled = count - settled;
  process.stdout.write(JSON.stringify(totals) + "\n");
  for (const socket of sockets) socket.close();
  process.exit(0);
};
const settle = () => {
  settled += 1;
  if (settled === count) report();
};
setTimeout(report, 90000);

for (let i = 0; i < count; i += 1) {
  const socket = io(url, {
    auth: { token },
    reconnection: false,
    forceNew: true,
    transports: ["websocket"],
  });
  sockets.push(socket);
  socket.once("connect", async () => {
    try {
      const reply = await socket.timeout(10000).emitWithAck("subscribe", room);
      if (reply && reply.ok === true) {
        totals.acked += 1;
      } else {
        totals.refused += 1;
        totals.first_error = totals.first_error || JSON.stringify(reply);
      }
    } catch (err) {
      totals.lost += 1;
    }
    settle();
  });
  socket.once("connect_error", (err) => {
    totals.connect_errors += 1;
    totals.first_error = totals.first_error || err.message;
    settle();
  });
}
