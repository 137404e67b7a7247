import assert from "node:assert/strict";
import { test } from "node:test";
import { Nocron, NocronError } from "../src/index.js";
import { BASE_URL, PASSWORD, countingFetch, expiredCopy, newUser } from "./helpers.js";

test("register signs in, login keeps a token pair, me answers the user", async () => {
  const { client, email } = await newUser();
  assert.ok(client.auth.tokens?.accessToken);
  const again = new Nocron({ baseUrl: BASE_URL });
  const user = await again.auth.login(email, PASSWORD);
  assert.equal(user.email, email);
  assert.notEqual(again.auth.tokens?.refreshToken, client.auth.tokens?.refreshToken);
  assert.equal((await again.auth.me()).email, email);
});

test("a wrong password is a typed problem with its code", async () => {
  const { email } = await newUser();
  const client = new Nocron({ baseUrl: BASE_URL });
  const err = await client.auth.login(email, "not the password at all").catch((e: unknown) => e);
  assert.ok(err instanceof NocronError);
  assert.equal(err.status, 401);
  assert.equal(err.code, "INVALID_CREDENTIALS");
  assert.equal(client.auth.tokens, null);
});

test("concurrent requests with an expired token share exactly one refresh, then retry", async () => {
  const counter = countingFetch();
  const { client } = await newUser({ fetch: counter.fetch });
  const before = client.auth.tokens;
  assert.ok(before);
  client.auth.setTokens({ ...before, accessToken: expiredCopy(before.accessToken) });
  counter.urls.length = 0;

  const results = await Promise.all([
    client.auth.me(),
    client.tasks.list({ limit: 5 }).firstPage(),
    client.executions.list({ limit: 5 }).firstPage(),
    client.notifications.unreadCount(),
    client.billing.usage(),
    client.apiKeys.list(),
  ]);
  assert.equal(results.length, 6);
  assert.equal(counter.urls.filter((path) => path === "/auth/refresh").length, 1, counter.urls.join(" "));
  // Six first tries answered 401, one refresh, six retries.
  assert.equal(counter.urls.length, 13, counter.urls.join(" "));
  const after = client.auth.tokens;
  assert.ok(after);
  assert.notEqual(after.refreshToken, before.refreshToken);
  assert.notEqual(after.accessToken, before.accessToken);

  // Rotation: the old refresh token no longer works.
  const reused = await fetch(`${BASE_URL}/auth/refresh`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: before.refreshToken }),
  });
  assert.equal(reused.status, 401);
});

test("a refused refresh signs the client out and surfaces the 401", async () => {
  const { client } = await newUser();
  const tokens = client.auth.tokens;
  assert.ok(tokens);
  client.auth.setTokens({ accessToken: expiredCopy(tokens.accessToken), refreshToken: "not-a-refresh-token" });
  const err = await client.auth.me().catch((e: unknown) => e);
  assert.ok(err instanceof NocronError);
  assert.equal(err.status, 401);
  assert.equal(client.auth.tokens, null);
});

test("onTokens sees every new pair and the sign-out", async () => {
  const seen: (string | null)[] = [];
  const { client } = await newUser({ onTokens: (t) => seen.push(t?.refreshToken ?? null) });
  await client.auth.refresh();
  await client.auth.logout();
  assert.equal(seen.length, 3);
  assert.equal(seen[2], null);
  assert.notEqual(seen[0], seen[1]);
});
