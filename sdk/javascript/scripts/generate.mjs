// Generates the committed files derived from the API's OpenAPI document (docs/openapi.json):
//   src/generated/schema.ts      the types, by openapi-typescript
//   test/types/spec-coverage.ts  a compile test touching every enum and every oneOf variant
// With --check, writes nothing and fails when a committed file differs from what it would be.
import { readFileSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";
import { coverageSource } from "./coverage.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const specPath = resolve(root, process.env.NOCRON_OPENAPI ?? "../../docs/openapi.json");
const spec = JSON.parse(readFileSync(specPath, "utf8"));

const header =
  "// Generated from docs/openapi.json by `npm run generate` (openapi-typescript). Do not edit.\n\n";
const schema = header + astToString(await openapiTS(structuredClone(spec), { alphabetize: false, defaultNonNullable: false, emptyObjectsUnknown: true }));
const coverage = coverageSource(spec);

const outputs = [
  ["src/generated/schema.ts", schema],
  ["test/types/spec-coverage.ts", coverage],
];

const check = process.argv.includes("--check");
let stale = [];
for (const [relative, text] of outputs) {
  const path = resolve(root, relative);
  if (check) {
    const current = existsSync(path) ? readFileSync(path, "utf8") : null;
    if (current !== text) stale.push(relative);
  } else {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    console.log(`wrote ${relative}`);
  }
}
if (stale.length > 0) {
  console.error(
    `out of date with docs/openapi.json: ${stale.join(", ")}\n` +
      "run `npm run generate` in sdk/javascript and commit the result",
  );
  process.exit(1);
}
if (check) console.log("generated files are current");
