import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { activeEntry } from '../throttle/schedule.js';
import { RedisBudgetStore } from './redis-store.js';
import { SharedBudget } from './shared-budget.js';

/** BUDGET_BACKEND=redis: the shared budget (not started); null with the local one. */
export function createSharedBudget(config: Config, log: Logger): SharedBudget | null {
  if (config.budget.backend !== 'redis') return null;
  const schedule = config.uploadSchedule;
  return new SharedBudget({
    store: new RedisBudgetStore({ url: config.budget.redisUrl, key: config.budget.key }),
    gatewayCount: config.budget.gatewayCount,
    timetable: () => activeEntry(schedule, new Date()).rate,
    scheduleText: schedule.text,
    log,
  });
}
