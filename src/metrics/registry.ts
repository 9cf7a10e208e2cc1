import { collectDefaultMetrics, Registry } from 'prom-client';
import { EventMetrics } from './event-metrics.js';
import { metricsRoutes, type MetricsRoutes } from './http.js';
import { registerStateGauges, type StateSources } from './state-gauges.js';

/** Every metric of one running service, on a registry of its own. */
export interface ServiceMetrics {
  registry: Registry;
  /** Hooks for the places where things happen (ingest bodies, group commit, uploader events). */
  events: EventMetrics;
  /** The ingest observer and GET /metrics, for the HTTP app. */
  routes: MetricsRoutes;
}

/**
 * A registry per service instance, never prom-client's global one: tests run several services in one
 * process, and each must report its own numbers. Node's process metrics (CPU, memory, event-loop lag,
 * GC) are on it too, under their standard unprefixed names so stock dashboards work.
 */
export function createServiceMetrics(sources: StateSources, options: { requireAdmin: boolean }): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const events = new EventMetrics(registry);
  registerStateGauges(registry, sources);
  return { registry, events, routes: metricsRoutes(registry, events.ingest, options.requireAdmin) };
}
