// Builds test/types/spec-coverage.ts from the OpenAPI document: a file that only has to
// compile (`tsc --noEmit`). For every enum in the spec it asserts that the generated type is
// exactly the enum's members (and refuses a non-member); for every oneOf it assigns a minimal
// value of each variant (each member of a variant's enum properties in turn) to the
// generated type, and checks that a discriminated variant missing its required fields is
// refused. A wrong or widened generated type fails the compile.

const METHODS = ["get", "put", "post", "delete", "patch"];

/** The source text of the coverage file for `spec`. */
export function coverageSource(spec) {
  const schemas = spec.components?.schemas ?? {};
  const resolve = (schema) => {
    let s = schema;
    for (let i = 0; s && s.$ref && i < 20; i++) s = schemas[s.$ref.replace("#/components/schemas/", "")];
    return s ?? {};
  };
  const lines = [];
  let counter = 0;
  const id = (kind) => `_${kind}${++counter}`;
  const stats = { enums: 0, oneOfs: 0, variants: 0 };

  const literal = (v) => JSON.stringify(v);

  /** A minimal value of `schema`, with `overrides` for top-level properties. */
  const example = (schema, depth = 0, overrides = {}) => {
    const s = resolve(schema);
    if (depth > 12) return null;
    if (s.enum) return s.enum.find((v) => v !== null) ?? null;
    if ("const" in s) return s.const;
    if (s.oneOf) {
      const variant = s.oneOf.find((v) => resolve(v).type !== "null") ?? s.oneOf[0];
      return example(variant, depth + 1);
    }
    if (s.allOf) {
      return Object.assign({}, ...s.allOf.map((part) => example(part, depth + 1)), overrides);
    }
    const type = Array.isArray(s.type) ? (s.type.find((t) => t !== "null") ?? "null") : s.type;
    switch (type) {
      case "null":
        return null;
      case "string":
        if (s.format === "uuid") return "00000000-0000-4000-8000-000000000000";
        if (s.format === "date-time") return "2026-01-01T00:00:00Z";
        if (s.format === "date") return "2026-01-01";
        return typeof s.example === "string" ? s.example : "x".repeat(Math.max(1, s.minLength ?? 1));
      case "integer":
      case "number":
        return s.minimum ?? 1;
      case "boolean":
        return true;
      case "array":
        return (s.minItems ?? 0) > 0 ? [example(s.items ?? {}, depth + 1)] : [];
      case "object":
      case undefined: {
        if (!s.properties && type === undefined) return {};
        const out = {};
        for (const name of s.required ?? []) {
          out[name] = name in overrides ? overrides[name] : example(s.properties?.[name] ?? {}, depth + 1);
        }
        for (const [name, value] of Object.entries(overrides)) out[name] = value;
        return out;
      }
      default:
        return {};
    }
  };

  /** The enum properties (name → members) of an object variant. */
  const enumProps = (variant) => {
    const s = resolve(variant);
    const props = {};
    for (const part of [s, ...(s.allOf ?? []).map(resolve)]) {
      for (const [name, prop] of Object.entries(part.properties ?? {})) {
        const p = resolve(prop);
        if (p.enum && (part.required ?? []).includes(name)) props[name] = p.enum.filter((v) => v !== null);
      }
    }
    return props;
  };

  const checkEnum = (members, type, where) => {
    const values = members.filter((v) => v !== null);
    if (values.length === 0) return;
    stats.enums++;
    lines.push(`// enum at ${where}`);
    lines.push(`expectTrue<Equal<NonNullable<${type}>, ${values.map(literal).join(" | ")}>>();`);
    if (values.every((v) => typeof v === "string")) {
      lines.push("// @ts-expect-error a value outside the enum is refused");
      lines.push(`export const ${id("notMember")}: NonNullable<${type}> = "__not_a_member__";`);
    }
  };

  const checkOneOf = (variants, type, where) => {
    stats.oneOfs++;
    lines.push(`// oneOf at ${where}`);
    const discriminators = variants.map(enumProps);
    variants.forEach((variant, index) => {
      const s = resolve(variant);
      const props = discriminators[index];
      const rounds = Math.max(1, ...Object.values(props).map((m) => m.length));
      for (let round = 0; round < rounds; round++) {
        const overrides = {};
        for (const [name, members] of Object.entries(props)) overrides[name] = members[round % members.length];
        stats.variants++;
        lines.push(`export const ${id("variant")}: ${type} = ${literal(example(s, 0, overrides))};`);
      }
      // A discriminated variant with nothing but its discriminator is refused.
      const single = Object.entries(props).filter(([, m]) => m.length === 1);
      const required = new Set([...(s.required ?? []), ...(s.allOf ?? []).flatMap((p) => resolve(p).required ?? [])]);
      if (single.length === 1 && required.size > 1) {
        const [name, [value]] = single[0];
        const unique = discriminators.every((other, j) => j === index || !(other[name] ?? []).includes(value));
        if (unique) {
          lines.push("// @ts-expect-error the variant's required fields are missing");
          lines.push(`export const ${id("incomplete")}: ${type} = ${literal({ [name]: value })};`);
        }
      }
    });
  };

  const visited = new Set();
  const walk = (schema, type, where, depth = 0) => {
    if (!schema || typeof schema !== "object" || schema.$ref || depth > 6) return;
    if (visited.has(schema)) return;
    visited.add(schema);
    if (schema.enum) checkEnum(schema.enum, type, where);
    if (schema.oneOf) checkOneOf(schema.oneOf, type, where);
    for (const part of schema.allOf ?? []) walk(part, type, `${where}/allOf`, depth + 1);
    for (const [name, prop] of Object.entries(schema.properties ?? {})) {
      walk(prop, `NonNullable<${type}>[${literal(name)}]`, `${where}.${name}`, depth + 1);
    }
    if (schema.items) walk(schema.items, `NonNullable<${type}>[number]`, `${where}[]`, depth + 1);
    if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
      walk(schema.additionalProperties, `NonNullable<${type}>[string]`, `${where}{}`, depth + 1);
    }
  };

  for (const name of Object.keys(schemas).sort()) {
    walk(schemas[name], `components["schemas"][${literal(name)}]`, `components.schemas.${name}`);
  }
  for (const [path, item] of Object.entries(spec.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const base = `paths[${literal(path)}][${literal(method)}]`;
      for (const param of op.parameters ?? []) {
        const type = `NonNullable<${base}["parameters"][${literal(param.in)}]>[${literal(param.name)}]`;
        walk(param.schema, type, `${method.toUpperCase()} ${path} ${param.in} ${param.name}`);
      }
      const json = op.requestBody?.content?.["application/json"];
      if (json) {
        walk(json.schema, `NonNullable<${base}["requestBody"]>["content"]["application/json"]`, `${method.toUpperCase()} ${path} body`);
      }
    }
  }

  return [
    "// Generated from docs/openapi.json by `npm run generate` (scripts/coverage.mjs). Do not edit.",
    `// A compile test: ${stats.enums} enums and ${stats.oneOfs} oneOfs (${stats.variants} variant values).`,
    "/* eslint-disable */",
    'import type { components, paths } from "../../src/generated/schema.js";',
    "",
    "type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;",
    "function expectTrue<T extends true>(): T | undefined {",
    "  return undefined;",
    "}",
    "",
    ...lines,
    "",
  ].join("\n");
}
