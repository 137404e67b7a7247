import assert from "node:assert/strict";
import { test } from "node:test";
import { Nocron, NocronError } from "../src/index.js";
import { BASE_URL, countingFetch, newUser, scriptTask, within } from "./helpers.js";

test("API-key mode calls /api/v1 with X-API-Key and respects scopes", async () => {
  const { client } = await newUser();
  const created = await client.apiKeys.create({ name: "sdk test", scopes: ["tasks:read", "tasks:write", "tasks:execute", "executions:read"] });
  const counter = countingFetch();
  const keyed = new Nocron({ baseUrl: BASE_URL, apiKey: created.key, fetch: counter.fetch });

  const task = await keyed.tasks.create(scriptTask("made with a key"));
  const names = [];
  for await (const t of keyed.tasks.list({ limit: 1 })) names.push(t.name);
  assert.deepEqual(names, ["made with a key"]);
  assert.ok(counter.urls.every((path) => path.startsWith("/api/v1/")), counter.urls.join(" "));

  // Connected before the run, not yet subscribed: the watch starts after `execute` answered
  // and still gets the events that came first.
  const connection = await keyed.realtime.connect();
  try {
    const run = await keyed.tasks.execute(task.id);
    const watch = await connection.watchExecution(task.id, run.execution_id);
    assert.equal((await within(30_000, "execution.finished", watch.finished)).status, "SUCCEEDED");
  } finally {
    connection.close();
  }

  // Without notifications:read the key is refused with a typed problem.
  const err = await keyed.notifications.unreadCount().catch((e: unknown) => e);
  assert.ok(err instanceof NocronError);
  assert.equal(err.status, 403);
  assert.equal(err.code, "INSUFFICIENT_SCOPE");

  // A revoked key no longer works, and no refresh is attempted.
  await client.apiKeys.revoke(created.id);
  const revoked = await keyed.tasks.get(task.id).catch((e: unknown) => e);
  assert.ok(revoked instanceof NocronError);
  assert.equal(revoked.status, 401);
  assert.ok(!counter.urls.includes("/auth/refresh"));
});
