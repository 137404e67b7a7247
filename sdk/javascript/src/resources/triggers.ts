import { unwrap } from "../errors.js";
import { Resource, type Schema } from "./base.js";

/** A task's non-schedule triggers: inbound webhooks, inbound email addresses and chains. */
export class Triggers extends Resource {
  /** The task's inbound webhooks (`POST /hooks/{token}`). */
  listWebhooks(taskId: string): Promise<Schema<"WebhookOut">[]> {
    return unwrap(this.raw.GET("/tasks/{id}/webhooks", { params: { path: { id: taskId } } }));
  }

  /** Adds an inbound webhook; the answer carries its URL and secrets once. */
  createWebhook(taskId: string, body: Schema<"WebhookIn">): Promise<Schema<"WebhookCreated">> {
    return unwrap(this.raw.POST("/tasks/{id}/webhooks", { params: { path: { id: taskId } }, body }));
  }

  /** Gives an inbound webhook a new token and secret. */
  rotateWebhook(taskId: string, webhookId: string): Promise<Schema<"WebhookCreated">> {
    return unwrap(
      this.raw.POST("/tasks/{id}/webhooks/{webhook_id}/rotate", {
        params: { path: { id: taskId, webhook_id: webhookId } },
      }),
    );
  }

  /** Deletes an inbound webhook. */
  async deleteWebhook(taskId: string, webhookId: string): Promise<void> {
    await unwrap(
      this.raw.DELETE("/tasks/{id}/webhooks/{webhook_id}", { params: { path: { id: taskId, webhook_id: webhookId } } }),
    );
  }

  /** The task's inbound email addresses. */
  listEmailTriggers(taskId: string): Promise<Schema<"EmailTriggerOut">[]> {
    return unwrap(this.raw.GET("/tasks/{id}/email-triggers", { params: { path: { id: taskId } } }));
  }

  /** Adds an inbound email address. */
  createEmailTrigger(taskId: string, body: Schema<"EmailTriggerIn">): Promise<Schema<"EmailTriggerCreated">> {
    return unwrap(this.raw.POST("/tasks/{id}/email-triggers", { params: { path: { id: taskId } }, body }));
  }

  /** Deletes an inbound email address. */
  async deleteEmailTrigger(taskId: string, triggerId: string): Promise<void> {
    await unwrap(
      this.raw.DELETE("/tasks/{id}/email-triggers/{trigger_id}", {
        params: { path: { id: taskId, trigger_id: triggerId } },
      }),
    );
  }

  /** The tasks this task starts when it finishes. */
  listChains(taskId: string): Promise<Schema<"ChainOut">[]> {
    return unwrap(this.raw.GET("/tasks/{id}/chains", { params: { path: { id: taskId } } }));
  }

  /** Starts another task when this one finishes (on the statuses the chain names). */
  createChain(taskId: string, body: Schema<"ChainIn">): Promise<Schema<"ChainOut">> {
    return unwrap(this.raw.POST("/tasks/{id}/chains", { params: { path: { id: taskId } }, body }));
  }

  /** Deletes a chain. */
  async deleteChain(taskId: string, chainId: string): Promise<void> {
    await unwrap(
      this.raw.DELETE("/tasks/{id}/chains/{chain_id}", { params: { path: { id: taskId, chain_id: chainId } } }),
    );
  }
}
