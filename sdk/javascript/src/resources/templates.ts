import { unwrap } from "../errors.js";
import { Resource, type QueryOf, type Schema } from "./base.js";

/** Task templates: the built-in ones and your own. */
export class Templates extends Resource {
  /** The templates you can use, optionally of one action type. */
  list(query: QueryOf<"/templates", "get"> = {}): Promise<Schema<"TemplateList">> {
    return unwrap(this.raw.GET("/templates", { params: { query } }));
  }

  /** One template. */
  get(id: string): Promise<Schema<"Template">> {
    return unwrap(this.raw.GET("/templates/{id}", { params: { path: { id } } }));
  }

  /** Saves a template of your own. */
  create(body: Schema<"SaveTemplateIn">): Promise<Schema<"Template">> {
    return unwrap(this.raw.POST("/templates", { body }));
  }

  /** Deletes one of your templates. */
  async delete(id: string): Promise<void> {
    await unwrap(this.raw.DELETE("/templates/{id}", { params: { path: { id } } }));
  }
}
