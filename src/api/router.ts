import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The agent's routes, matched by method and path: gear's few patterns
 * (static segments, `:name` for one segment, a trailing `*` for the rest,
 * a trailing `:name*` for the rest as a param: segments joined by "/")
 * on `node:http`'s own request and response, nothing more (docs/decisions.md,
 * "A router of gear's own instead of Fastify").
 */

/** What a route's handler gets beside the request and its answer. */
export interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  /** The path's `:name` segments, percent-decoded. */
  params: Record<string, string>;
  /** The raw path (before any `?`). */
  path: string;
  /** The raw query string (after the first `?`), '' when none. */
  search: string;
}

export type Handler = (call: Call) => unknown;

interface Route {
  /** Segments of the pattern: a literal, `:name`, or `*` or `:name*` (last only). */
  segments: string[];
  handler: Handler;
}

/** The answer of `find`: the handler and its params, or undefined when no route has that method and path. */
export interface Found {
  handler: Handler;
  params: Record<string, string>;
}

/** A path segment that is not valid percent-encoding: answered 400 (Fastify answered it so too). */
export class BadUrl extends Error {
  readonly statusCode = 400;
  constructor(path: string) {
    super(`'${path}' is not a valid url component`);
  }
}

const decode = (segment: string, path: string): string => {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadUrl(path);
  }
};

export class Router {
  /** Patterns without params, by `METHOD path`: most requests (the listing) are one lookup. */
  private readonly exact = new Map<string, Handler>();
  /** Patterns with params or a wildcard, by method, tried in the order added after the exact ones. */
  private readonly patterns = new Map<string, Route[]>();

  /** Add a route; a GET route answers HEAD too unless HEAD is routed on its own (Node sends no body to a HEAD). */
  add(methods: string | string[], pattern: string, handler: Handler): void {
    for (const method of typeof methods === 'string' ? [methods] : methods) {
      this.addOne(method, pattern, handler);
      if (method === 'GET' && !(Array.isArray(methods) && methods.includes('HEAD'))) this.addOne('HEAD', pattern, handler, true);
    }
  }

  private addOne(method: string, pattern: string, handler: Handler, implicit = false): void {
    const segments = pattern.split('/').slice(1);
    if (segments.some((s) => s.startsWith(':') || s === '*')) {
      const list = this.patterns.get(method) ?? [];
      if (implicit && list.some((r) => r.segments.join('/') === segments.join('/'))) return;
      list.push({ segments, handler });
      this.patterns.set(method, list);
      return;
    }
    const key = `${method} ${pattern}`;
    if (implicit && this.exact.has(key)) return;
    this.exact.set(key, handler);
  }

  /** The route for a method and raw path; throws BadUrl for a param that is not valid percent-encoding. */
  find(method: string, path: string): Found | undefined {
    const exact = this.exact.get(`${method} ${path}`);
    if (exact) return { handler: exact, params: {} };
    const routes = this.patterns.get(method);
    if (!routes || !path.startsWith('/')) return undefined;
    const parts = path.split('/').slice(1);
    next: for (const route of routes) {
      const params: Record<string, string> = {};
      const { segments } = route;
      for (let i = 0; i < segments.length; i++) {
        const want = segments[i]!;
        if (want === '*') return { handler: route.handler, params };
        const part = parts[i];
        if (part === undefined) continue next;
        if (want.startsWith(':') && want.endsWith('*') && i === segments.length - 1) {
          // The rest of the path, each segment decoded (a client may also send "/" as %2F): validated by the operation.
          const rest = parts.slice(i);
          if (rest.every((p) => p === '')) continue next;
          params[want.slice(1, -1)] = rest.map((p) => decode(p, path)).join('/');
          return { handler: route.handler, params };
        }
        if (want.startsWith(':')) {
          if (part === '') continue next;
          params[want.slice(1)] = decode(part, path);
        } else if (decode(part, path) !== want) continue next;
      }
      if (parts.length !== segments.length) continue;
      return { handler: route.handler, params };
    }
    return undefined;
  }
}
