// Drives the official socket.io-client for tests/api/realtime_node.rs.
// Usage: node client.js URL TOKEN [ROOM]
// Prints one JSON object per line: {"type":"connect"}, {"type":"connect_error","message"},
// {"type":"ack","reply"} for the subscription to ROOM, {"type":"event","name","payload"},
// {"type":"disconnect","reason"}.
// Exits when stdin closes.
"use strict";

const { io } = require("socket.io-client");

const [url, token, room] = process.argv.slice(2);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const socket = io(url, { auth: { token }, reconnection: false });
socket.on("connect", async () => {
  print({ type: "connect" });
  if (room) {
    const reply = await socket.emitWithAck("subscribe", room);
    print({ type: "ack", reply });
  }
});
socket.on("connect_error", (err) => print({ type: "connect_error", message: err.message }));
socket.on("disconnect", (reason) => print({ type: "disconnect", reason }));
socket.onAny((name, payload) => print({ type: "event", name, payload }));
process.stdin.on("end", () => {
  socket.close();
  process.exit(0);
});
process.stdin.resume();
