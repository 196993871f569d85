/** What the HTTP clients (gateway, provider) share. */

/**
 * `fetcher` (default: the global fetch) as a plain function: a browser's fetch throws "Illegal
 * invocation" when called as a method of another object.
 */
export function unbound(fetcher) {
  return fetcher ? (...args) => fetcher(...args) : (...args) => globalThis.fetch(...args);
}
