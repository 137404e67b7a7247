import { unwrap } from "../errors.js";
import { Paginator } from "../pagination.js";
import { Resource, type QueryOf, type Schema } from "./base.js";

/** Plans, your subscription, usage, invoices and payments. */
export class Billing extends Resource {
  /** The plans on offer. */
  plans(): Promise<Schema<"PlanList">> {
    return unwrap(this.raw.GET("/billing/plans"));
  }

  /** Your subscription. */
  subscription(): Promise<Schema<"SubscriptionOut">> {
    return unwrap(this.raw.GET("/billing/subscription"));
  }

  /** Your usage against the plan's limits. */
  usage(): Promise<Schema<"UsageOut">> {
    return unwrap(this.raw.GET("/billing/usage"));
  }

  /** Your invoices, newest first, walking the cursors. */
  invoices(query: Omit<QueryOf<"/billing/invoices", "get">, "cursor"> = {}): Paginator<Schema<"InvoiceOut">> {
    return new Paginator((cursor) =>
      unwrap(this.raw.GET("/billing/invoices", { params: { query: { ...query, ...(cursor ? { cursor } : {}) } } })),
    );
  }

  /** Your payments, newest first, walking the cursors. */
  payments(query: Omit<QueryOf<"/billing/payments", "get">, "cursor"> = {}): Paginator<Schema<"PaymentOut">> {
    return new Paginator((cursor) =>
      unwrap(this.raw.GET("/billing/payments", { params: { query: { ...query, ...(cursor ? { cursor } : {}) } } })),
    );
  }
}
