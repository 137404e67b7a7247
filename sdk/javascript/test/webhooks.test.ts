import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { signWebhook, verifyWebhook, WebhookVerificationError } from "../src/index.js";
import { newUser, within } from "./helpers.js";

// The test vector published with the Standard Webhooks specification (also checked by the
// server's own tests in src/triggers/signature.rs).
const SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TIMESTAMP = 1_614_265_330;
const SPEC_BODY = '{"test": 2432232314}';
const SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

const specHeaders = (signature: string) => ({
  "webhook-id": SPEC_ID,
  "webhook-timestamp": String(SPEC_TIMESTAMP),
  "webhook-signature": signature,
});

test("the published Standard Webhooks vector verifies, and changes to it do not", () => {
  const now = SPEC_TIMESTAMP * 1000;
  assert.equal(signWebhook(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY), SPEC_SIGNATURE);
  assert.deepEqual(verifyWebhook(SPEC_SECRET, specHeaders(SPEC_SIGNATURE), SPEC_BODY, { now }), { test: 2432232314 });
  // Several signatures (a rotation): one match is enough.
  verifyWebhook(SPEC_SECRET, specHeaders(`v1,bm90IGl0 ${SPEC_SIGNATURE}`), SPEC_BODY, { now });
  const refused = (headers: Record<string, string>, body = SPEC_BODY, at = now, secret = SPEC_SECRET) =>
    assert.throws(() => verifyWebhook(secret, headers, body, { now: at }), WebhookVerificationError);
  refused(specHeaders(SPEC_SIGNATURE), '{"test": 2432232315}');
  refused(specHeaders(SPEC_SIGNATURE), SPEC_BODY, now, "whsec_" + Buffer.from("another key").toString("base64"));
  refused(specHeaders(SPEC_SIGNATURE.replace("v1,", "v2,")));
  refused({ ...specHeaders(SPEC_SIGNATURE), "webhook-id": "msg_other" });
  refused(specHeaders(SPEC_SIGNATURE), SPEC_BODY, now + 301_000);
  refused(specHeaders(SPEC_SIGNATURE), SPEC_BODY, now - 301_000);
  verifyWebhook(SPEC_SECRET, specHeaders(SPEC_SIGNATURE), SPEC_BODY, { now: now + 299_000 });
  assert.throws(
    () => verifyWebhook(SPEC_SECRET, specHeaders(SPEC_SIGNATURE), SPEC_BODY, { now: now + 299_000, toleranceSeconds: 60 }),
    /too old/,
  );
  refused({ "webhook-id": SPEC_ID, "webhook-timestamp": String(SPEC_TIMESTAMP) });
});

test("a real notification webhook delivered by the server verifies", async () => {
  const received: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
  let arrived!: () => void;
  const delivered = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(204).end();
      arrived();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const { client } = await newUser();
    const endpoint = await client.notifications.createWebhook({ url: `http://127.0.0.1:${port}/nocron`, description: "sdk test" });
    assert.match(endpoint.secret, /^whsec_/);
    const sent = await client.notifications.sendTest("WEBHOOK");
    await within(30_000, "the webhook delivery", delivered);

    const [delivery] = received;
    assert.ok(delivery);
    const payload = verifyWebhook(endpoint.secret, delivery.headers, delivery.body);
    assert.equal(payload.data.id, sent.notification_id);
    assert.equal(payload.type, "SYSTEM");
    // The Headers class works too, and a changed byte or another secret does not verify.
    const headers = new Headers(Object.entries(delivery.headers).map(([k, v]) => [k, String(v)] as [string, string]));
    verifyWebhook(endpoint.secret, headers, delivery.body.toString("utf8"));
    const tampered = Buffer.from(delivery.body);
    const last = tampered.length - 2;
    tampered[last] = (tampered[last] ?? 0) ^ 1;
    assert.throws(() => verifyWebhook(endpoint.secret, delivery.headers, tampered), WebhookVerificationError);
    const rotated = await client.notifications.rotateWebhookSecret(endpoint.id);
    assert.throws(() => verifyWebhook(rotated.secret, delivery.headers, delivery.body), /no matching signature/);
  } finally {
    server.close();
  }
});
