import { readFileSync } from 'node:fs';

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ refId: string; expr: string; datasource?: { type: string; uid: string } }>;
}

export interface Dashboard {
  __inputs: Array<{ name: string; type: string; pluginId: string }>;
  schemaVersion: number;
  uid: string;
  title: string;
  panels: DashboardPanel[];
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(new URL('../../deploy/grafana-dashboard.json', import.meta.url), 'utf8')) as Dashboard;
}

/** The metric names a PromQL expression reads (this service's and Node's standard process metrics). */
export function metricNamesIn(expr: string): string[] {
  return [...new Set(expr.match(/\b(?:image_spool|process|nodejs)_[a-zA-Z0-9_]+/g) ?? [])];
}
