/** One page of a cursor-paginated list, as every Nocron list answers. */
export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/**
 * A cursor-paginated list. Iterate it with `for await` to walk every item over as many
 * pages as needed (each page is fetched when the one before is used up), or use
 * {@link Paginator.pages} for whole pages.
 */
export class Paginator<T> implements AsyncIterable<T> {
  readonly #fetchPage: (cursor: string | undefined) => Promise<Page<T>>;

  /** `fetchPage` fetches the page at `cursor` (the first page for `undefined`). */
  constructor(fetchPage: (cursor: string | undefined) => Promise<Page<T>>) {
    this.#fetchPage = fetchPage;
  }

  /** Every page in order, starting from the first. */
  async *pages(): AsyncGenerator<Page<T>, void, undefined> {
    let cursor: string | undefined;
    do {
      const page = await this.#fetchPage(cursor);
      yield page;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /** The first page only. */
  firstPage(): Promise<Page<T>> {
    return this.#fetchPage(undefined);
  }

  /** Every item, into an array (stops after `max` items when given). */
  async toArray(max = Infinity): Promise<T[]> {
    const out: T[] = [];
    for await (const item of this) {
      if (out.length >= max) break;
      out.push(item);
    }
    return out;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) {
      yield* page.items;
    }
  }
}
