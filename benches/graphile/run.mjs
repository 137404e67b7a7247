// graphile-worker running N jobs that each GET a local sink, for comparison with Nocron's
// engine (benches/engine.rs runs this with the same database server, sink and job count).
//
// usage: node run.mjs --database-url URL --url SINK --jobs N [--concurrency C]
// prints one JSON line: {"jobs":N,"seconds":S,"per_second":R}
import { parseArgs } from "node:util";
import pg from "pg";
import { run, makeWorkerUtils, Logger } from "graphile-worker";

// Per-job log lines would cost more than the jobs; keep only the result line on stdout.
const logger = new Logger(() => () => {});

const { values } = parseArgs({
  options: {
    "database-url": { type: "string" },
    url: { type: "string" },
    jobs: { type: "string", default: "5000" },
    concurrency: { type: "string", default: "50" },
  },
});
const connectionString = values["database-url"];
const sink = values.url;
const jobs = Number(values.jobs);
const concurrency = Number(values.concurrency);
if (!connectionString || !sink || !(jobs > 0)) {
  console.error("usage: node run.mjs --database-url URL --url SINK --jobs N [--concurrency C]");
  process.exit(2);
}

const utils = await makeWorkerUtils({ connectionString, logger });
await utils.migrate();
await utils.release();

// Enqueue every job up front, in one statement, so only processing is timed.
const client = new pg.Client({ connectionString });
await client.connect();
await client.query("DELETE FROM graphile_worker._private_jobs");
await client.query(
  "SELECT graphile_worker.add_job('hit', json_build_object('n', n)) FROM generate_series(1, $1) AS n",
  [jobs],
);
await client.end();

let done = 0;
let failed = 0;
let finish;
const finished = new Promise((resolve) => (finish = resolve));
const started = process.hrtime.bigint();
const runner = await run({
  connectionString,
  concurrency,
  noHandleSignals: true,
  pollInterval: 1000,
  maxPoolSize: concurrency,
  logger,
  preset: {
    worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
  },
  taskList: {
    hit: async () => {
      const response = await fetch(sink);
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`sink answered ${response.status}`);
    },
  },
});
runner.events.on("job:success", () => {
  done += 1;
  if (done + failed >= jobs) finish();
});
runner.events.on("job:error", () => {
  failed += 1;
});
await finished;
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
await runner.stop();
console.log(JSON.stringify({ jobs: done, failed, seconds, per_second: done / seconds }));
