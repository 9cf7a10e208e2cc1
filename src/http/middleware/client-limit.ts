import type { MiddlewareHandler } from 'hono';
import type { ClientOf } from '../client-address.js';
import type { ClientSlots } from '../client-slots.js';
import type { AppEnv } from '../env.js';

/** Holds one of the client's ingest slots for the whole request (src/http/client-slots.ts). */
export function clientLimit(slots: ClientSlots, clientOf: ClientOf): MiddlewareHandler<AppEnv> {
  return async function limitPerClient(c, next) {
    const release = await slots.take(clientOf(c.env.incoming), c.env.incoming);
    try {
      await next();
    } finally {
      release();
    }
  };
}
