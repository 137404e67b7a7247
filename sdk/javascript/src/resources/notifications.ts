import { unwrap } from "../errors.js";
import { Paginator } from "../pagination.js";
import { Resource, type QueryOf, type Schema } from "./base.js";

/** Filters of `GET /notifications`. */
export type NotificationListQuery = Omit<QueryOf<"/notifications", "get">, "cursor">;

/** Your notifications, their preferences and your outbound webhook endpoints. Under `/api/v1` in API-key mode. */
export class Notifications extends Resource {
  /** Every notification matching `query`, newest first, walking the cursors. */
  list(query: NotificationListQuery = {}): Paginator<Schema<"NotificationOut">> {
    return new Paginator((cursor) =>
      unwrap(
        this.raw.GET(this.twin("/notifications"), { params: { query: { ...query, ...(cursor ? { cursor } : {}) } } }),
      ),
    );
  }

  /** One notification with its deliveries. */
  get(id: string): Promise<Schema<"NotificationDetail">> {
    return unwrap(this.raw.GET(this.twin("/notifications/{id}"), { params: { path: { id } } }));
  }

  /** Marks one notification read. */
  markRead(id: string): Promise<Schema<"NotificationOut">> {
    return unwrap(this.raw.PATCH(this.twin("/notifications/{id}/read"), { params: { path: { id } } }));
  }

  /** Marks every notification read. */
  markAllRead(): Promise<Schema<"ReadAll">> {
    return unwrap(this.raw.POST(this.twin("/notifications/read-all")));
  }

  /** Deletes a notification. */
  async delete(id: string): Promise<void> {
    await unwrap(this.raw.DELETE(this.twin("/notifications/{id}"), { params: { path: { id } } }));
  }

  /** How many are unread. */
  unreadCount(): Promise<Schema<"UnreadCount">> {
    return unwrap(this.raw.GET(this.twin("/notifications/unread-count")));
  }

  /** Your channel preferences. */
  getPreferences(): Promise<Schema<"Preferences">> {
    return unwrap(this.raw.GET(this.twin("/notifications/preferences")));
  }

  /** Replaces your channel preferences. */
  setPreferences(body: Schema<"Preferences">): Promise<Schema<"Preferences">> {
    return unwrap(this.raw.PUT(this.twin("/notifications/preferences"), { body }));
  }

  /** Every type and channel, resolved. */
  effectivePreferences(): Promise<Schema<"EffectivePreferences">> {
    return unwrap(this.raw.GET(this.twin("/notifications/preferences/effective")));
  }

  /** Sends yourself a test notification through one channel (e.g. `WEBHOOK`). */
  sendTest(channel: Schema<"Channel">): Promise<Schema<"TestSent">> {
    return unwrap(this.raw.POST(this.twin("/notifications/test"), { body: { channel } }));
  }

  /** Your webhook endpoints. */
  listWebhooks(): Promise<Schema<"EndpointOut">[]> {
    return unwrap(this.raw.GET(this.twin("/notifications/webhooks")));
  }

  /** Adds a webhook endpoint; the answer carries its signing secret (`whsec_…`) once. */
  createWebhook(body: Schema<"EndpointIn">): Promise<Schema<"EndpointWithSecret">> {
    return unwrap(this.raw.POST(this.twin("/notifications/webhooks"), { body }));
  }

  /** Gives an endpoint a new signing secret. */
  rotateWebhookSecret(id: string): Promise<Schema<"EndpointWithSecret">> {
    return unwrap(
      this.raw.POST(this.twin("/notifications/webhooks/{id}/rotate-secret"), { params: { path: { id } } }),
    );
  }

  /** Deletes a webhook endpoint. */
  async deleteWebhook(id: string): Promise<void> {
    await unwrap(this.raw.DELETE(this.twin("/notifications/webhooks/{id}"), { params: { path: { id } } }));
  }
}
