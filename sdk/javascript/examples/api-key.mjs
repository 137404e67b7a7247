// @ts-check
// Uses an API key (`nck_…`, from `client.apiKeys.create`) against /api/v1.
//   NOCRON_URL=http://127.0.0.1:3000 NOCRON_API_KEY=nck_… node examples/api-key.mjs
import { Nocron } from "@nocron/sdk";

const client = new Nocron({
  baseUrl: process.env.NOCRON_URL ?? "http://127.0.0.1:3000",
  apiKey: process.env.NOCRON_API_KEY ?? "",
});

for await (const task of client.tasks.list({ status: "ACTIVE", limit: 100 })) {
  console.log(`${task.name}: next run ${task.next_run_at ?? "none"}`);
}
let failed = 0;
for await (const execution of client.executions.list({ status: "DEAD", limit: 100 })) {
  failed += 1;
  console.log(`dead: ${execution.id} of task ${execution.task_id}`);
}
console.log(`${failed} dead executions`);
