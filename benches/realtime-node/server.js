// The comparison server of benches/realtime.rs: a minimal socket.io 4.8 server doing what
// Nocron's gateway does in the benchmark. Clients connect with auth.token and join the room
// of that token's user; a client with the token "control" sends `burst` events, and the
// server broadcasts `count` copies of the payload to the room, each stamped with the send
// time in microseconds (sent_us), as Nocron stamps its emits.
"use strict";

const { createServer } = require("http");
const { Server } = require("socket.io");

const httpServer = createServer();
const io = new Server(httpServer, {
  serveClient: false,
  transports: ["websocket", "polling"],
});

io.use((socket, next) => {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  if (typeof token === "string" && token.length > 0) {
    next();
  } else {
    next(new Error("authentication required"));
  }
});

const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

io.on("connection", (socket) => {
  const token = socket.handshake.auth.token;
  if (token === "control") {
    socket.on("burst", ({ room, event, count, payload }) => {
      for (let i = 0; i < count; i++) {
        payload.sent_us = nowMicros();
        io.to(room).emit(event, payload);
      }
    });
    return;
  }
  // Bench tokens are "user:<id>": every client of one user shares that room.
  socket.join(token);
});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
});
