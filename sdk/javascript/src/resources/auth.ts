import { unwrap } from "../errors.js";
import type { TokenPair } from "../session.js";
import { Resource, type Schema } from "./base.js";

/** The outcome of a registration. */
export type Registration =
  | { status: "signed_in"; user: Schema<"UserOut">; tokens: TokenPair }
  | { status: "verification_sent" };

/** Sign-up, sign-in and the session's token pair. */
export class Auth extends Resource {
  /** Signs in with email and password; the client keeps (and later refreshes) the token pair. */
  async login(email: string, password: string): Promise<Schema<"UserOut">> {
    const out = await unwrap(this.raw.POST("/auth/login", { body: { email, password } }));
    this.session.accept(out);
    return out.user;
  }

  /**
   * Creates an account. Without email verification the account is signed in at once (the
   * client keeps its tokens); with it, the mailbox receives a token for {@link Auth.verifyEmail}.
   */
  async register(body: Schema<"RegisterIn">): Promise<Registration> {
    const { data, error, response } = await this.raw.POST("/auth/register", { body });
    if (response.status === 201 && data && "access_token" in data) {
      return { status: "signed_in", user: data.user, tokens: this.session.accept(data) };
    }
    if (response.status === 202) return { status: "verification_sent" };
    return unwrap(Promise.resolve({ data: undefined, error, response })) as never;
  }

  /** Completes a registration with the emailed token (then sign in with {@link Auth.login}). */
  verifyEmail(token: string): Promise<Schema<"EmailVerified">> {
    return unwrap(this.raw.POST("/auth/verify-email", { body: { token } }));
  }

  /** Exchanges the refresh token for a new pair now (the client also does this by itself on a 401). */
  refresh(): Promise<TokenPair> {
    return this.session.refresh();
  }

  /** The signed-in user. */
  me(): Promise<Schema<"UserOut">> {
    return unwrap(this.raw.GET("/auth/me"));
  }

  /** Changes the password; this session gets new tokens, the others end. */
  async changePassword(body: Schema<"ChangePasswordIn">): Promise<Schema<"PasswordChangedOut">> {
    const out = await unwrap(this.raw.POST("/auth/change-password", { body }));
    this.session.accept(out);
    return out;
  }

  /** Signs out (every session of the account with `all`) and forgets the tokens. */
  async logout(options: { all?: boolean } = {}): Promise<void> {
    try {
      await unwrap(this.raw.POST("/auth/logout", { body: { all: options.all ?? false } }));
    } finally {
      this.session.setTokens(null);
    }
  }

  /** The token pair in use, to store and restore later with `setTokens`. */
  get tokens(): TokenPair | null {
    return this.session.tokens;
  }

  /** Restores a stored token pair, or forgets it with `null`. */
  setTokens(tokens: TokenPair | null): void {
    this.session.setTokens(tokens);
  }
}
