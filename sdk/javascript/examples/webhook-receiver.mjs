// @ts-check
// Receives Nocron's notification webhooks and checks their signature.
//   NOCRON_WEBHOOK_SECRET=whsec_… PORT=8080 node examples/webhook-receiver.mjs
// Register the endpoint with `client.notifications.createWebhook({ url })`; its answer shows
// the secret once. `client.notifications.sendTest("WEBHOOK")` sends one to try it.
import { createServer } from "node:http";
import { verifyWebhook, WebhookVerificationError } from "@nocron/sdk";

const secret = process.env.NOCRON_WEBHOOK_SECRET ?? "";
const seen = new Set(); // webhook-id of processed deliveries: retries repeat it

createServer((req, res) => {
  /** @type {Buffer[]} */
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    try {
      // The raw body, exactly as received.
      const event = verifyWebhook(secret, req.headers, Buffer.concat(chunks));
      const id = String(req.headers["webhook-id"]);
      if (!seen.has(id)) {
        seen.add(id);
        console.log(`${event.type}: ${event.data.title}`);
      }
      res.writeHead(204).end();
    } catch (err) {
      if (!(err instanceof WebhookVerificationError)) throw err;
      console.warn(`refused: ${err.message}`);
      res.writeHead(400).end();
    }
  });
}).listen(Number(process.env.PORT ?? 8080), () => console.log("listening"));
