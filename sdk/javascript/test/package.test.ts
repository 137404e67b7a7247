import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";

// The published entry points: ES module and CommonJS builds expose the same API.
test("the ESM and CJS builds load and export the same names", async () => {
  const esm = await import("@nocron/sdk");
  const require = createRequire(import.meta.url);
  const cjs = require("@nocron/sdk") as Record<string, unknown>;
  assert.deepEqual(Object.keys(esm).sort(), Object.keys(cjs).sort());
  assert.equal(typeof esm.Nocron, "function");
  assert.equal(typeof cjs["verifyWebhook"], "function");
});
