import { io, type Socket } from "socket.io-client";
import type { components } from "./generated/schema.js";
import type { Session } from "./session.js";

type S = components["schemas"];

/** The events the server sends, with their payloads (see docs/REALTIME.md). */
export interface RealtimeEvents {
  "execution.queued": (event: S["ExecutionQueued"]) => void;
  "execution.started": (event: S["ExecutionStarted"]) => void;
  "execution.log": (event: S["ExecutionLog"]) => void;
  "execution.finished": (event: S["ExecutionFinished"]) => void;
  "execution.skipped": (event: S["ExecutionSkipped"]) => void;
  "task.created": (event: S["TaskChanged"]) => void;
  "task.updated": (event: S["TaskChanged"]) => void;
  "task.deleted": (event: S["TaskDeleted"]) => void;
  "task.status_changed": (event: S["TaskStatusChanged"]) => void;
  notification: (event: S["NotificationPush"]) => void;
  unread_count: (event: S["UnreadCountPush"]) => void;
  "notification.created": (event: S["NotificationCreated"]) => void;
  "alert.created": (event: S["AlertCreated"]) => void;
  "dashboard.metrics": (event: S["DashboardMetrics"]) => void;
  "session.expired": (event: S["SessionExpired"]) => void;
}

/** A realtime event's name. */
export type RealtimeEventName = keyof RealtimeEvents;
/** The payload of event `E`. */
export type RealtimeEvent<E extends RealtimeEventName> = Parameters<RealtimeEvents[E]>[0];

/** What the client emits. */
export interface RealtimeCommands {
  subscribe: (room: S["SubscribeRequest"], ack: (reply: S["SubscribeAck"]) => void) => void;
  unsubscribe: (room: S["SubscribeRequest"], ack: (reply: S["SubscribeAck"]) => void) => void;
}

/** The events that concern one execution. */
type ExecutionEventName = "execution.queued" | "execution.started" | "execution.log" | "execution.finished";
const EXECUTION_EVENTS: ExecutionEventName[] = [
  "execution.queued",
  "execution.started",
  "execution.log",
  "execution.finished",
];
/** How many execution events a connection remembers for {@link RealtimeConnection.watchExecution}. */
const RECENT_EVENTS = 1000;

/** A refused subscription or connection. */
export class RealtimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RealtimeError";
  }
}

/** Options of {@link Realtime.connect}. */
export interface RealtimeOptions {
  /** Socket.IO transports, default both (long-polling first, then the WebSocket upgrade). */
  transports?: ("polling" | "websocket")[];
  /** How long to wait for the connection, default 10 s. */
  timeoutMs?: number;
}

/**
 * A live connection to `/socket.io`, authenticated with the client's access token or API key.
 * Rooms subscribed through it are joined again after a reconnection. When the server ends
 * the socket because the access token expired (`session.expired`), the connection refreshes
 * the token pair and reconnects by itself (API keys do not expire that way).
 */
export class RealtimeConnection {
  /** The underlying Socket.IO socket, typed with the catalogue's events. */
  readonly socket: Socket<RealtimeEvents, RealtimeCommands>;
  readonly #session: Session;
  readonly #rooms = new Set<string>();
  /** The latest execution events, so a watch started just after `execute` misses nothing. */
  readonly #recent: { event: ExecutionEventName; payload: { execution_id: string } }[] = [];
  #closed = false;

  /** @internal use {@link Realtime.connect}. */
  constructor(socket: Socket<RealtimeEvents, RealtimeCommands>, session: Session) {
    this.socket = socket;
    this.#session = session;
    for (const event of EXECUTION_EVENTS) {
      this.on(event, ((payload: { execution_id: string }) => {
        this.#recent.push({ event, payload });
        if (this.#recent.length > RECENT_EVENTS) this.#recent.shift();
      }) as never);
    }
    socket.on("connect", () => {
      if (socket.recovered) return;
      for (const room of this.#rooms) socket.emit("subscribe", room, () => undefined);
    });
    socket.on("disconnect", (reason) => {
      if (this.#closed || reason !== "io server disconnect" || this.#session.usesApiKey) return;
      // The server ended the socket (token expiry or revoked credentials): try a fresh token once.
      this.#session.refresh().then(
        () => socket.connect(),
        () => undefined,
      );
    });
  }

  /** Listens to an event; returns a function that stops listening. */
  on<E extends RealtimeEventName>(event: E, listener: RealtimeEvents[E]): () => void {
    (this.socket.on as (e: string, l: (...a: unknown[]) => void) => unknown)(event, listener as never);
    return () => {
      (this.socket.off as (e: string, l: (...a: unknown[]) => void) => unknown)(event, listener as never);
    };
  }

  /** Joins a room (`task:{id}`, `dashboard:{user_id}`, `dashboard`, `admin`); throws when refused. */
  async subscribe(room: string): Promise<void> {
    const reply = await this.socket.emitWithAck("subscribe", room);
    if ("error" in reply) throw new RealtimeError(reply.error);
    this.#rooms.add(room);
  }

  /** Leaves a room. */
  async unsubscribe(room: string): Promise<void> {
    this.#rooms.delete(room);
    const reply = await this.socket.emitWithAck("unsubscribe", room);
    if ("error" in reply) throw new RealtimeError(reply.error);
  }

  /** Receives the task's events (`execution.*`, `task.*`) from now on. */
  subscribeTask(taskId: string): Promise<void> {
    return this.subscribe(`task:${taskId}`);
  }

  /**
   * Follows one execution: joins its task's room and calls `listener` with that execution's
   * `execution.*` events, starting with those this connection already received (so watching
   * right after `tasks.execute` misses nothing: `queued`, `started` and `finished` reach the
   * owner's sockets without a subscription; `execution.log` needs the task room, so subscribe
   * to the task before executing to get every line). `finished` resolves with its
   * `execution.finished` event (a failed attempt that will be retried says so in
   * `summary.will_retry`).
   */
  async watchExecution(
    taskId: string,
    executionId: string,
    listener?: <E extends ExecutionEventName>(event: E, payload: RealtimeEvent<E>) => void,
  ): Promise<ExecutionWatch> {
    let resolveFinished!: (event: RealtimeEvent<"execution.finished">) => void;
    const finished = new Promise<RealtimeEvent<"execution.finished">>((resolve) => {
      resolveFinished = resolve;
    });
    const seen = new Set<object>();
    const deliver = (event: ExecutionEventName, payload: { execution_id: string }) => {
      if (payload.execution_id !== executionId || seen.has(payload)) return;
      seen.add(payload);
      listener?.(event, payload as never);
      if (event === "execution.finished") resolveFinished(payload as RealtimeEvent<"execution.finished">);
    };
    const stops = EXECUTION_EVENTS.map((event) =>
      this.on(event, ((payload: { execution_id: string }) => deliver(event, payload)) as never),
    );
    for (const { event, payload } of [...this.#recent]) deliver(event, payload);
    try {
      await this.subscribeTask(taskId);
    } catch (err) {
      for (const stop of stops) stop();
      throw err;
    }
    return { finished, stop: () => stops.forEach((stop) => stop()) };
  }

  /** Closes the connection for good. */
  close(): void {
    this.#closed = true;
    this.socket.disconnect();
  }
}

/** A followed execution. */
export interface ExecutionWatch {
  /** Its `execution.finished` event. */
  finished: Promise<RealtimeEvent<"execution.finished">>;
  /** Stops calling the listener (the task room stays joined). */
  stop: () => void;
}

/** Opens realtime connections for a client. */
export class Realtime {
  readonly #baseUrl: string;
  readonly #session: Session;

  /** @internal */
  constructor(baseUrl: string, session: Session) {
    this.#baseUrl = baseUrl;
    this.#session = session;
  }

  /**
   * Connects and authenticates (the handshake's `auth.token`). An expired access token is
   * refreshed once and the connection tried again.
   */
  async connect(options: RealtimeOptions = {}): Promise<RealtimeConnection> {
    const session = this.#session;
    const socket: Socket<RealtimeEvents, RealtimeCommands> = io(this.#baseUrl, {
      path: "/socket.io",
      autoConnect: false,
      reconnection: true,
      transports: options.transports ?? ["polling", "websocket"],
      auth: (cb) => cb({ token: session.credential() ?? "" }),
    });
    const connection = new RealtimeConnection(socket, session);
    await new Promise<void>((resolve, reject) => {
      let refreshed = false;
      const timer = setTimeout(() => fail(new RealtimeError("timed out connecting to /socket.io")), options.timeoutMs ?? 10_000);
      const done = () => {
        clearTimeout(timer);
        socket.off("connect", onConnect);
        socket.off("connect_error", onError);
      };
      const fail = (err: Error) => {
        done();
        socket.disconnect();
        reject(err);
      };
      const onConnect = () => {
        done();
        resolve();
      };
      const onError = (err: Error) => {
        const authProblem = /token|auth/i.test(err.message);
        if (authProblem && !refreshed && !session.usesApiKey && session.tokens) {
          refreshed = true;
          session.refresh().then(
            () => socket.connect(),
            (refreshError: Error) => fail(refreshError),
          );
          return;
        }
        if (authProblem || !socket.active) fail(new RealtimeError(err.message));
      };
      socket.on("connect", onConnect);
      socket.on("connect_error", onError);
      socket.connect();
    });
    return connection;
  }
}
