import type { HttpBindings } from '@hono/node-server';
import type { ImageAccess } from './middleware/image-read-auth.js';

/** Hono environment: handlers reach the raw Node request through `c.env.incoming`. */
export interface AppEnv {
  Bindings: HttpBindings;
  /** `imageAccess`: set by imageReadAuth on the image routes. */
  Variables: { requestId: string; imageAccess: ImageAccess };
}
