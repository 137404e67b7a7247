// Compiles the tests (with the sources they import, the spec coverage file and the examples)
// into build-test/, which also type-checks them, and runs them with node:test against the
// live server in NOCRON_URL (scripts/test-sdk starts one).
//   --compile-only   compile (type-check) and stop
//   --no-compile     run what build-test/ holds
// Other arguments select test files by name.
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(root, "build-test");
const args = process.argv.slice(2);
if (!args.includes("--no-compile")) {
  rmSync(out, { recursive: true, force: true });
  execFileSync(process.execPath, [resolve(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.test.json"], {
    cwd: root,
    stdio: "inherit",
  });
}
if (args.includes("--compile-only")) process.exit(0);
const only = args.filter((arg) => !arg.startsWith("--"));
const files = readdirSync(resolve(out, "test"))
  .filter((name) => name.endsWith(".test.js"))
  .filter((name) => only.length === 0 || only.some((pattern) => name.includes(pattern)))
  .map((name) => resolve(out, "test", name));
if (files.length === 0) {
  console.error(`no test file matches ${only.join(" ")}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...files], { cwd: root, stdio: "inherit" });
process.exit(result.status ?? 1);
