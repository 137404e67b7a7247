import createClient from "openapi-fetch";
import type { paths } from "./generated/schema.js";
import { Realtime } from "./realtime.js";
import { Analytics, Dashboard } from "./resources/analytics.js";
import { ApiKeys } from "./resources/api-keys.js";
import { Auth } from "./resources/auth.js";
import type { RawClient } from "./resources/base.js";
import { Billing } from "./resources/billing.js";
import { Executions } from "./resources/executions.js";
import { Notifications } from "./resources/notifications.js";
import { Secrets } from "./resources/secrets.js";
import { Tasks } from "./resources/tasks.js";
import { Templates } from "./resources/templates.js";
import { Triggers } from "./resources/triggers.js";
import { Session, type TokenPair } from "./session.js";

/** Options of {@link Nocron}. */
export interface NocronOptions {
  /** The server's base URL, e.g. `https://nocron.example.com`. */
  baseUrl: string;
  /**
   * An API key (`nck_…`): requests carry `X-API-Key`, and the wrappers that have an
   * `/api/v1` twin (tasks, executions, notifications, analytics) call it.
   */
  apiKey?: string;
  /** A token pair stored from an earlier session. */
  tokens?: TokenPair;
  /** Called with every new token pair (after login and each refresh), and `null` at sign-out. */
  onTokens?: (tokens: TokenPair | null) => void;
  /** The `fetch` to use (default `globalThis.fetch`). */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
}

/**
 * The Nocron client: typed wrappers per module, plus `raw`, the typed openapi-fetch client
 * for every path of the API.
 */
export class Nocron {
  /** Every path of the API, typed from the OpenAPI document: `client.raw.GET("/health")`. */
  readonly raw: RawClient;
  readonly auth: Auth;
  readonly tasks: Tasks;
  readonly executions: Executions;
  readonly triggers: Triggers;
  readonly templates: Templates;
  readonly secrets: Secrets;
  readonly apiKeys: ApiKeys;
  readonly notifications: Notifications;
  readonly billing: Billing;
  readonly analytics: Analytics;
  readonly dashboard: Dashboard;
  /** Socket.IO connections: `await client.realtime.connect()`. */
  readonly realtime: Realtime;
  readonly #session: Session;

  constructor(options: NocronOptions) {
    const baseUrl = options.baseUrl.replace(/\/+$/, "");
    const baseFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#session = new Session({
      baseUrl,
      fetch: baseFetch,
      apiKey: options.apiKey,
      tokens: options.tokens,
      onTokens: options.onTokens,
    });
    this.raw = createClient<paths>({
      baseUrl,
      fetch: this.#session.fetch,
      headers: { accept: "application/json, application/problem+json", ...options.headers },
    });
    const args = [this.raw, this.#session] as const;
    this.auth = new Auth(...args);
    this.tasks = new Tasks(...args);
    this.executions = new Executions(...args);
    this.triggers = new Triggers(...args);
    this.templates = new Templates(...args);
    this.secrets = new Secrets(...args);
    this.apiKeys = new ApiKeys(...args);
    this.notifications = new Notifications(...args);
    this.billing = new Billing(...args);
    this.analytics = new Analytics(...args);
    this.dashboard = new Dashboard(...args);
    this.realtime = new Realtime(baseUrl, this.#session);
  }
}
