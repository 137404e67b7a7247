// Compiles the tests (with the sources they import) into build-test/ and runs them with
// node:test against the live server in NOCRON_URL (scripts/test-sdk starts one).
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(root, "build-test");
rmSync(out, { recursive: true, force: true });
execFileSync(process.execPath, [resolve(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.test.json"], {
  cwd: root,
  stdio: "inherit",
});
const only = process.argv.slice(2);
const files = readdirSync(resolve(out, "test"))
  .filter((name) => name.endsWith(".test.js"))
  .filter((name) => only.length === 0 || only.some((pattern) => name.includes(pattern)))
  .map((name) => resolve(out, "test", name));
const result = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...files], { cwd: root, stdio: "inherit" });
process.exit(result.status ?? 1);
