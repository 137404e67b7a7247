// Builds dist/esm (ES modules) and dist/cjs (CommonJS), each with its .d.ts files.
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = resolve(root, "node_modules/typescript/bin/tsc");
rmSync(resolve(root, "dist"), { recursive: true, force: true });
for (const config of ["tsconfig.json", "tsconfig.cjs.json"]) {
  execFileSync(process.execPath, [tsc, "-p", config], { cwd: root, stdio: "inherit" });
}
// Each half says what its .js (and .d.ts) files are, whatever the package's own "type".
writeFileSync(resolve(root, "dist/esm/package.json"), '{\n  "type": "module"\n}\n');
writeFileSync(resolve(root, "dist/cjs/package.json"), '{\n  "type": "commonjs"\n}\n');
console.log("built dist/esm and dist/cjs");
