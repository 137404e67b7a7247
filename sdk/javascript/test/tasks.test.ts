import assert from "node:assert/strict";
import { test } from "node:test";
import { NocronError, type RealtimeEvent } from "../src/index.js";
import { PASSWORD, countingFetch, expiredCopy, newUser, scriptTask, within } from "./helpers.js";

test("a validation error carries its field errors", async () => {
  const { client } = await newUser();
  const err = await client.tasks
    .create({ ...scriptTask("bad cron"), schedule: { cron: "not a cron" } })
    .catch((e: unknown) => e);
  assert.ok(err instanceof NocronError, String(err));
  assert.equal(err.status, 422);
  assert.equal(err.code, "VALIDATION_ERROR");
  assert.ok(err.fieldErrors.length > 0);
  assert.ok(err.fieldError("schedule.cron"), JSON.stringify(err.fieldErrors));
  assert.ok(err.requestId);
});

test("for await walks every page of the task list", async () => {
  const counter = countingFetch();
  const { client } = await newUser({ fetch: counter.fetch });
  const created: string[] = [];
  for (let i = 0; i < 7; i++) created.push((await client.tasks.create(scriptTask(`page task ${i}`))).id);

  counter.urls.length = 0;
  const seen: string[] = [];
  for await (const task of client.tasks.list({ limit: 3, sort: "name", order: "asc" })) seen.push(task.name);
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6].map((i) => `page task ${i}`));
  assert.equal(counter.urls.filter((path) => path === "/tasks").length, 3);

  const pages = [];
  for await (const page of client.tasks.list({ limit: 3 }).pages()) pages.push(page.items.length);
  assert.deepEqual(pages, [3, 3, 1]);
  assert.equal((await client.tasks.list({ limit: 2 }).toArray(5)).length, 5);
  assert.deepEqual((await client.tasks.get(created[0] ?? "")).name, "page task 0");
});

test("executing a task streams its events over the realtime helper", async () => {
  const { client } = await newUser();
  const task = await client.tasks.create(scriptTask("realtime task"));
  const connection = await client.realtime.connect();
  try {
    await connection.subscribeTask(task.id);
    const enqueued = await client.tasks.execute(task.id, { input: { from: "sdk" } });
    const events: string[] = [];
    const logs: RealtimeEvent<"execution.log">[] = [];
    const watch = await connection.watchExecution(task.id, enqueued.execution_id, (event, payload) => {
      events.push(event);
      if (event === "execution.log") logs.push(payload as RealtimeEvent<"execution.log">);
    });
    const finished = await within(30_000, "execution.finished", watch.finished);
    watch.stop();
    assert.equal(finished.execution_id, enqueued.execution_id);
    assert.equal(finished.status, "SUCCEEDED");
    assert.ok(events.includes("execution.queued"), events.join(" "));
    assert.ok(events.includes("execution.started"), events.join(" "));
    assert.ok(
      logs.some((line) => line.message.includes("hello from the sdk test")),
      JSON.stringify(logs),
    );
    const execution = await client.executions.get(enqueued.execution_id);
    assert.equal(execution.status, "SUCCEEDED");
  } finally {
    connection.close();
  }
});

test("subscribing to another owner's task is refused", async () => {
  const { client: owner } = await newUser();
  const { client: other } = await newUser();
  const task = await owner.tasks.create(scriptTask("private task"));
  const connection = await other.realtime.connect();
  try {
    await assert.rejects(connection.subscribeTask(task.id), /not found/);
  } finally {
    connection.close();
  }
});

test("the quick-start example runs against the server", async () => {
  const { email } = await newUser();
  const { execFile } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const script = fileURLToPath(new URL("../../examples/quickstart.mjs", import.meta.url));
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [script],
      { env: { ...process.env, NOCRON_EMAIL: email, NOCRON_PASSWORD: PASSWORD }, timeout: 60_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
  assert.match(output, /422 VALIDATION_ERROR: schedule\.cron /);
  assert.match(output, /: SUCCEEDED in \d+ ms/);
  assert.match(output, /log: hello/);
  assert.match(output, /tasks in all: 1\n/);
  assert.match(output, /server: ready/);
});

test("a realtime connection with an expired access token refreshes once and connects", async () => {
  const counter = countingFetch();
  const { client } = await newUser({ fetch: counter.fetch });
  const tokens = client.auth.tokens;
  assert.ok(tokens);
  client.auth.setTokens({ ...tokens, accessToken: expiredCopy(tokens.accessToken) });
  const connection = await client.realtime.connect();
  try {
    assert.ok(connection.socket.connected);
    assert.equal(counter.urls.filter((path) => path === "/auth/refresh").length, 1);
    assert.notEqual(client.auth.tokens?.accessToken, tokens.accessToken);
    const task = await client.tasks.create(scriptTask("after a refresh"));
    await connection.subscribeTask(task.id);
  } finally {
    connection.close();
  }
});
