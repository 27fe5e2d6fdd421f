// The `route` label of an HTTP call: the pattern it matched (`GET /orders/:id`), never
// the path it was called with, so the label's values are as few as the routes. Read from
// the method's @http marks and the request the method was given: nothing in the HTTP
// layer has to know about metrics.

import type { MethodDefinition } from '../service-definition.js';
import type { WorkerContext } from '../worker-context.js';

interface RouteMark {
  method: string;
  path: string;
}

/** The @http routes of a method, as `{ method, path }`. */
function routesOf(method: MethodDefinition): RouteMark[] {
  const routes: RouteMark[] = [];
  for (const mark of method.entrypoints) {
    const options = mark.options as Partial<RouteMark> | undefined;
    if (mark.kind.name === 'http' && typeof options?.method === 'string' && typeof options.path === 'string') routes.push({ method: options.method, path: options.path });
  }
  return routes;
}

/** The request an @http method receives first: only what is read here. */
interface RequestView {
  method?: unknown;
  path?: unknown;
  params?: unknown;
}

/** Does `path` come out of `pattern` with `params` put in? (find-my-way's `:name` and `*`.) */
function fills(pattern: string, params: Record<string, unknown>, path: string): boolean {
  const filled = pattern.replace(/:([A-Za-z0-9_$]+)(\([^)]*\))?/g, (_m, name: string) => String(params[name] ?? '')).replace(/\*$/, () => String(params['*'] ?? ''));
  return filled === path;
}

/** Resolves and caches the route label of HTTP calls, per method. */
export class HttpRouteLabels {
  private readonly routes = new Map<MethodDefinition, RouteMark[]>();

  /**
   * `'<VERB> <pattern>'` for an HTTP call, `''` for any other kind. A method with several
   * routes is matched by verb, then by filling each pattern with the request's params;
   * `'unmatched'` if none fits (not expected: the server matched one).
   */
  label(ctx: WorkerContext, method: MethodDefinition | undefined): string {
    if (ctx.entrypoint !== 'http' || !method) return '';
    let routes = this.routes.get(method);
    if (!routes) {
      routes = routesOf(method);
      this.routes.set(method, routes);
    }
    if (routes.length === 1) return `${routes[0]!.method} ${routes[0]!.path}`;
    const request = (ctx.args[0] ?? {}) as RequestView;
    // HEAD is served by a GET route when no HEAD route is declared.
    const verb = typeof request.method === 'string' ? request.method : '';
    const byVerb = routes.filter((r) => r.method === verb);
    const candidates = byVerb.length > 0 ? byVerb : verb === 'HEAD' ? routes.filter((r) => r.method === 'GET') : [];
    if (candidates.length === 1) return `${candidates[0]!.method} ${candidates[0]!.path}`;
    const params = (typeof request.params === 'object' && request.params !== null ? request.params : {}) as Record<string, unknown>;
    const path = typeof request.path === 'string' ? request.path : '';
    const found = candidates.find((r) => fills(r.path, params, path));
    return found ? `${found.method} ${found.path}` : 'unmatched';
  }
}
