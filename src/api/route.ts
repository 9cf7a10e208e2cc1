import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi';
import type { z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../http/env.js';
import { parseJsonBody, parseQuery } from './validate.js';

export type ApiApp = OpenAPIHono<AppEnv>;

type JsonSchemaOf<R> = R extends { request: { body: { content: { 'application/json': { schema: infer S } } } } } ? S : undefined;
type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

/**
 * What a handler gets besides the context: the JSON body, as its schema parsed it. (The query string is only
 * checked, before the middleware: a handler that needs a query value reads it from the request.)
 */
export interface RouteInput<R> {
  body: Parsed<JsonSchemaOf<R>>;
}

export type RouteHandler<R> = (c: Context<AppEnv>, input: RouteInput<R>) => Response | Promise<Response>;

/**
 * One route, described once: its OpenAPI operation goes into the app's registry (and so /openapi.json), and
 * its handler is registered behind the route's middleware (authentication) with the query checked and the JSON
 * body parsed by the very schemas the operation describes. The query is checked before the middleware (its shape
 * reveals nothing), the body after it (nothing is read for a caller who may not call). Path parameters are
 * described, not checked: an id that matches nothing is a 404 like any unknown id.
 */
export function route<R extends RouteConfig>(app: ApiApp, config: R, handler: RouteHandler<R>): void {
  app.openAPIRegistry.registerPath(config);
  const query = config.request?.query;
  const body = config.request?.body;
  const media = body?.content['application/json'];
  const json = media !== undefined && 'schema' in media ? media.schema as z.ZodType : undefined;
  const parsed: MiddlewareHandler<AppEnv> = async function parsedRequest(c) {
    const input = {
      body: json === undefined ? undefined : await parseJsonBody(c, json, body?.required === true),
    } as RouteInput<R>;
    return handler(c, input);
  };
  const queryFirst: MiddlewareHandler<AppEnv>[] = query === undefined ? [] : [async function checkedQuery(c, next) {
    parseQuery(c, query);
    await next();
  }];
  register(app, config, [...queryFirst, ...routeMiddleware(config), parsed]);
}

/**
 * A route whose handler reads the request itself (a multipart or streamed JSON upload, a page, the metrics
 * text): described in the same registry, nothing parsed for it.
 */
export function describedRoute(app: ApiApp, config: RouteConfig, handler: MiddlewareHandler<AppEnv>): void {
  app.openAPIRegistry.registerPath(config);
  register(app, config, [...routeMiddleware(config), handler]);
}

function routeMiddleware(config: RouteConfig): MiddlewareHandler<AppEnv>[] {
  return config.middleware === undefined ? [] : [config.middleware].flat() as MiddlewareHandler<AppEnv>[];
}

function register(app: ApiApp, config: RouteConfig, handlers: MiddlewareHandler<AppEnv>[]): void {
  app.on(config.method.toUpperCase(), [config.path.replaceAll(/\{([^}]+)\}/g, ':$1')], ...handlers);
}
