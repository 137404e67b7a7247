// @ts-check
// Signs in, creates a task, runs it while watching it live, then lists tasks page by page.
//   NOCRON_URL=http://127.0.0.1:3000 NOCRON_EMAIL=… NOCRON_PASSWORD=… node examples/quickstart.mjs
import { Nocron, NocronError } from "@nocron/sdk";

const client = new Nocron({ baseUrl: process.env.NOCRON_URL ?? "http://127.0.0.1:3000" });
await client.auth.login(process.env.NOCRON_EMAIL ?? "", process.env.NOCRON_PASSWORD ?? "");

// Errors are typed from the server's problem documents.
try {
  await client.tasks.create({
    name: "Broken",
    action: { type: "CUSTOM_SCRIPT", config: { source: "1" } },
    schedule: { cron: "every day at noon" },
  });
} catch (err) {
  if (!(err instanceof NocronError)) throw err;
  console.log(`${err.status} ${err.code}: schedule.cron ${err.fieldError("schedule.cron")}`);
}

const task = await client.tasks.create({
  name: "Quick start",
  action: { type: "CUSTOM_SCRIPT", config: { source: 'log("hello"); #{ answer: 42 }' } },
  schedule: { cron: "0 3 * * *", timezone: "Europe/Berlin" },
});
console.log(`created ${task.name} (${task.id}), next run ${task.next_run_at}`);

// Live events: subscribe to the task first, then run it and wait for the outcome.
const live = await client.realtime.connect();
await live.subscribeTask(task.id);
const run = await client.tasks.execute(task.id, { input: { from: "quickstart" } });
const watch = await live.watchExecution(task.id, run.execution_id, (event, payload) => {
  if (event === "execution.log") console.log(`  log: ${/** @type {{ message: string }} */ (payload).message}`);
});
const finished = await watch.finished;
console.log(`execution ${finished.execution_id}: ${finished.status} in ${finished.duration_ms} ms`);
live.close();

// Pagination: for await walks every page.
let count = 0;
for await (const t of client.tasks.list({ limit: 50, sort: "name" })) {
  count += 1;
  if (count <= 3) console.log(`task: ${t.name} [${t.status}]`);
}
console.log(`tasks in all: ${count}`);

// Anything without a wrapper: the typed raw client.
const { data: health } = await client.raw.GET("/health/ready");
console.log(`server: ${health?.status}`);
await client.auth.logout();
