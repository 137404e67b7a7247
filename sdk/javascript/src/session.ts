import { NocronError } from "./errors.js";
import type { components } from "./generated/schema.js";

/** What `POST /auth/login` and `POST /auth/refresh` answer. */
export type AuthOut = components["schemas"]["AuthOut"];

/** The tokens of a signed-in session. */
export interface TokenPair {
  /** The JWT sent as `Authorization: Bearer …`. */
  accessToken: string;
  /** The one-use token that `POST /auth/refresh` exchanges for a new pair. */
  refreshToken: string;
  /** When the access token expires (ms since the epoch), when known. */
  expiresAt?: number;
}

/** Paths that carry no session credentials: a 401 from them is never a cue to refresh. */
const CREDENTIAL_PATHS = /\/auth\/(login|refresh|register|verify-email)$/;

/**
 * Holds the caller's credentials and is the `fetch` every request goes through: it adds the
 * API key or the access token; on a 401 it refreshes the token pair once (rotation: the old
 * refresh token stops working) and retries the request once. Concurrent 401s share one
 * refresh: there are never two refreshes in flight.
 */
export class Session {
  readonly #baseUrl: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #apiKey: string | undefined;
  readonly #onTokens: ((tokens: TokenPair | null) => void) | undefined;
  #tokens: TokenPair | null;
  #refreshing: Promise<TokenPair> | null = null;

  constructor(options: {
    baseUrl: string;
    fetch: typeof globalThis.fetch;
    apiKey?: string | undefined;
    tokens?: TokenPair | null | undefined;
    onTokens?: ((tokens: TokenPair | null) => void) | undefined;
  }) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#fetch = options.fetch;
    this.#apiKey = options.apiKey;
    this.#tokens = options.tokens ?? null;
    this.#onTokens = options.onTokens;
  }

  /** `true` when the client authenticates with an API key (the `/api/v1` endpoints). */
  get usesApiKey(): boolean {
    return this.#apiKey !== undefined;
  }

  /** The current token pair, or `null` when signed out (or in API-key mode). */
  get tokens(): TokenPair | null {
    return this.#tokens;
  }

  /** Replaces the token pair (e.g. restored from storage), or clears it with `null`. */
  setTokens(tokens: TokenPair | null): void {
    this.#tokens = tokens;
    this.#onTokens?.(tokens);
  }

  /** Stores the tokens of a login or refresh answer. */
  accept(out: AuthOut): TokenPair {
    const tokens: TokenPair = {
      accessToken: out.access_token,
      refreshToken: out.refresh_token,
      expiresAt: Date.now() + out.expires_in * 1000,
    };
    this.setTokens(tokens);
    return tokens;
  }

  /** The credential for a Socket.IO handshake: the API key or the access token. */
  credential(): string | undefined {
    return this.#apiKey ?? this.#tokens?.accessToken;
  }

  /**
   * Exchanges the refresh token for a new pair. Calls made while one refresh is in flight
   * wait for it instead of starting another. A refused refresh signs the session out.
   */
  refresh(): Promise<TokenPair> {
    if (!this.#refreshing) {
      this.#refreshing = this.#doRefresh().finally(() => {
        this.#refreshing = null;
      });
    }
    return this.#refreshing;
  }

  async #doRefresh(): Promise<TokenPair> {
    const refreshToken = this.#tokens?.refreshToken;
    if (!refreshToken) {
      throw new NocronError(401, { status: 401, code: "UNAUTHORIZED", detail: "not signed in", error_code: 1000 });
    }
    const response = await this.#fetch(`${this.#baseUrl}/auth/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ refresh_token: refreshToken }),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the error
    }
    if (!response.ok) {
      // The refresh token is spent, revoked or expired: nothing can renew this session.
      if (response.status === 401 && this.#tokens?.refreshToken === refreshToken) this.setTokens(null);
      throw new NocronError(response.status, body, response.headers.get("x-request-id"));
    }
    return this.accept(body as AuthOut);
  }

  /** The `fetch` given to openapi-fetch. */
  readonly fetch = async (request: Request): Promise<Response> => {
    if (this.#apiKey !== undefined) {
      return this.#send(request, { "x-api-key": this.#apiKey });
    }
    const token = this.#tokens?.accessToken;
    const credentialPath = CREDENTIAL_PATHS.test(new URL(request.url).pathname);
    if (!token || credentialPath || request.headers.has("authorization")) {
      return this.#send(request, {});
    }
    const spare = request.clone();
    const response = await this.#send(request, { authorization: `Bearer ${token}` });
    if (response.status !== 401 || !this.#tokens?.refreshToken) return response;
    // Another request may already have refreshed: then only retry with the new token.
    let fresh = this.#tokens.accessToken;
    if (fresh === token) {
      try {
        fresh = (await this.refresh()).accessToken;
      } catch (err) {
        if (err instanceof NocronError && err.status === 401) return response;
        throw err;
      }
    }
    await response.body?.cancel();
    return this.#send(spare, { authorization: `Bearer ${fresh}` });
  };

  #send(request: Request, headers: Record<string, string>): Promise<Response> {
    if (Object.keys(headers).length === 0) return this.#fetch(request);
    const merged = new Headers(request.headers);
    for (const [name, value] of Object.entries(headers)) merged.set(name, value);
    return this.#fetch(new Request(request, { headers: merged }));
  }
}
