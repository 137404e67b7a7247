// Shared by the SDK tests: the live server's address, new accounts, a fetch that counts.
import { createHmac, randomUUID } from "node:crypto";
import { Nocron, type NocronOptions } from "../src/index.js";

/** The live server the test script started (`scripts/test-sdk`). */
export const BASE_URL = process.env.NOCRON_URL ?? "";
if (!BASE_URL) throw new Error("NOCRON_URL is not set: run the tests through scripts/test-sdk");

/** The server's JWT secret (the test script sets it), to mint an expired access token. */
export const JWT_SECRET = process.env.NOCRON_JWT_SECRET ?? "";

export const PASSWORD = "correct horse battery staple sdk";

/** A fetch that records every URL it is given. */
export function countingFetch(): { fetch: typeof globalThis.fetch; urls: string[] } {
  const urls: string[] = [];
  const fetch: typeof globalThis.fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    urls.push(new URL(url).pathname);
    return globalThis.fetch(input, init);
  };
  return { fetch, urls };
}

/** A fresh account, registered and signed in through the SDK. */
export async function newUser(options: Partial<NocronOptions> = {}): Promise<{ client: Nocron; email: string }> {
  const client = new Nocron({ baseUrl: BASE_URL, ...options });
  const email = `sdk-${randomUUID()}@example.com`;
  const registration = await client.auth.register({ email, password: PASSWORD, name: "SDK Test" });
  if (registration.status !== "signed_in") throw new Error("expected registration to sign in");
  return { client, email };
}

/** A task running a tiny script: it logs a line and returns a value. */
export function scriptTask(name: string) {
  return {
    name,
    action: {
      type: "CUSTOM_SCRIPT" as const,
      config: { source: 'log("hello from the sdk test"); 40 + 2' },
    },
  };
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

/** `token` with its expiry moved into the past and signed again with the server's secret. */
export function expiredCopy(token: string): string {
  const [, payload] = token.split(".");
  const claims = JSON.parse(Buffer.from(payload ?? "", "base64url").toString("utf8"));
  const now = Math.floor(Date.now() / 1000);
  claims.iat = now - 3600;
  claims.nbf = now - 3600;
  claims.exp = now - 600;
  const head = base64url(JSON.stringify({ typ: "JWT", alg: "HS256" }));
  const body = base64url(JSON.stringify(claims));
  const signature = createHmac("sha256", JWT_SECRET).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${signature}`;
}

/** Resolves with `promise`, or rejects after `ms` naming `what`. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
