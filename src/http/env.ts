import type { HttpBindings } from '@hono/node-server';

/** Hono environment: handlers reach the raw Node request through `c.env.incoming`. */
export interface AppEnv {
  Bindings: HttpBindings;
  Variables: { requestId: string };
}
