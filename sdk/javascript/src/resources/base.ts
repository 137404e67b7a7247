import type { Client } from "openapi-fetch";
import type { components, paths } from "../generated/schema.js";
import type { Session } from "../session.js";

/** The typed openapi-fetch client over every path of the API. */
export type RawClient = Client<paths>;
/** A schema of the API by name. */
export type Schema<N extends keyof components["schemas"]> = components["schemas"][N];
/** The query parameters of an operation. */
export type QueryOf<P extends keyof paths, M extends "get" | "post"> = paths[P][M] extends {
  parameters: { query?: infer Q };
}
  ? NonNullable<Q>
  : never;

/** What every typed wrapper shares: the raw client and the session it authenticates with. */
export abstract class Resource {
  protected readonly raw: RawClient;
  protected readonly session: Session;

  constructor(raw: RawClient, session: Session) {
    this.raw = raw;
    this.session = session;
  }

  /**
   * `path`, or its `/api/v1` twin when the client uses an API key. The twins are the same
   * handlers with the same request and answer schemas, which is why the type stays `P`.
   */
  protected twin<P extends string>(path: P): P {
    return (this.session.usesApiKey ? `/api/v1${path}` : path) as P;
  }
}
