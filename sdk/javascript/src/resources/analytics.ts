import { unwrap } from "../errors.js";
import { Resource, type QueryOf, type Schema } from "./base.js";

/** The period and buckets of the analytics reports. */
export type AnalyticsQuery = QueryOf<"/analytics/summary", "get">;

/** Execution reports over a period. Under `/api/v1` in API-key mode. */
export class Analytics extends Resource {
  /** Totals over the period. */
  summary(query: AnalyticsQuery = {}): Promise<Schema<"AnalyticsSummary">> {
    return unwrap(this.raw.GET(this.twin("/analytics/summary"), { params: { query } }));
  }

  /** The period in buckets (series for charts). */
  series(query: QueryOf<"/analytics/dashboard", "get"> = {}): Promise<Schema<"AnalyticsSeries">> {
    return unwrap(this.raw.GET(this.twin("/analytics/dashboard"), { params: { query } }));
  }
}

/** The dashboard's figures (signed-in users). */
export class Dashboard extends Resource {
  /** Tasks, executions and health at a glance. */
  overview(query: QueryOf<"/dashboard/overview", "get"> = {}): Promise<Schema<"DashboardOverview">> {
    return unwrap(this.raw.GET("/dashboard/overview", { params: { query } }));
  }

  /** Live execution figures (what `dashboard.metrics` pushes). */
  metrics(query: QueryOf<"/dashboard/metrics", "get"> = {}): Promise<Schema<"DashboardMetrics">> {
    return unwrap(this.raw.GET("/dashboard/metrics", { params: { query } }));
  }

  /** The most recently active tasks. */
  recentTasks(query: QueryOf<"/dashboard/recent-tasks", "get"> = {}): Promise<Schema<"RecentTasks">> {
    return unwrap(this.raw.GET("/dashboard/recent-tasks", { params: { query } }));
  }
}
