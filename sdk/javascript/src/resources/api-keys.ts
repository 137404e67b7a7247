import { unwrap } from "../errors.js";
import { Resource, type Schema } from "./base.js";

/** API keys for `/api/v1` (managed while signed in with a password). */
export class ApiKeys extends Resource {
  /** Your keys (prefixes and metadata, never the keys). */
  list(): Promise<Schema<"ApiKeyOut">[]> {
    return unwrap(this.raw.GET("/api-keys"));
  }

  /** Issues a key with scopes; the answer is the only time the key is shown. */
  create(body: Schema<"ApiKeyIn">): Promise<Schema<"ApiKeyCreated">> {
    return unwrap(this.raw.POST("/api-keys", { body }));
  }

  /** Replaces a key with a new one (same name and scopes); the old one stops working. */
  rotate(id: string): Promise<Schema<"ApiKeyCreated">> {
    return unwrap(this.raw.POST("/api-keys/{id}/rotate", { params: { path: { id } } }));
  }

  /** Revokes a key. */
  async revoke(id: string): Promise<void> {
    await unwrap(this.raw.DELETE("/api-keys/{id}", { params: { path: { id } } }));
  }
}
