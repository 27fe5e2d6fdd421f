// docs/grafana/enoki-dashboard.json conforms to Grafana's own dashboard schema, as Grafana
// publishes it in `@grafana/schema` (the dashboard model and each core panel's options and
// field config): checked offline by the TypeScript compiler (test/support/grafana-schema.ts).
// The same check run on copies broken one field at a time shows that it can fail.

import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { grafanaSchemaErrors } from './support/grafana-schema.js';

type Json = Record<string, any>;

const dashboard = JSON.parse(readFileSync(new URL('../docs/grafana/enoki-dashboard.json', import.meta.url), 'utf8')) as Json;

/** A deep copy of the dashboard with one change made to it. */
function broken(change: (d: Json) => void): Json {
  const copy = structuredClone(dashboard);
  change(copy);
  return copy;
}

const firstTimeseries = (d: Json): Json => d.panels.find((p: Json) => p.type === 'timeseries');
const firstRow = (d: Json): Json => d.panels.find((p: Json) => p.type === 'row');

// Each: the change, the part of the dashboard the error must name, and words of its message.
const BREAKS: Record<string, { change: (d: Json) => void; where: string; says: RegExp }> = {
  'gridPos.w as a string': { change: (d) => (firstTimeseries(d).gridPos.w = '12'), where: 'dashboard', says: /'string' is not assignable to type 'number'/ },
  'no schemaVersion': { change: (d) => delete d.schemaVersion, where: 'dashboard', says: /schemaVersion/ },
  'a misspelt dashboard key': { change: (d) => ((d.refersh = d.refresh), delete d.refresh), where: 'dashboard', says: /refersh/ },
  'a row without collapsed': { change: (d) => delete firstRow(d).collapsed, where: 'panel 0 ', says: /collapsed/ },
  'an unknown legend display mode': { change: (d) => (firstTimeseries(d).options.legend.displayMode = 'tabel'), where: 'panel 1 ', says: /"tabel"/ },
  'an unknown draw style': { change: (d) => (firstTimeseries(d).fieldConfig.defaults.custom.drawStyle = 'curve'), where: 'panel 1 ', says: /"curve"/ },
  'a misspelt query field': { change: (d) => (firstTimeseries(d).targets[0].legendFromat = '{{service}}'), where: 'panel 1 ', says: /legendFromat/ },
  'a query without refId': { change: (d) => delete firstTimeseries(d).targets[0].refId, where: 'panel 1 ', says: /refId/ },
  'a panel type Grafana does not have': { change: (d) => (firstTimeseries(d).type = 'timeseriez'), where: 'panel 1 ', says: /"timeseriez"/ },
};

describe('docs/grafana/enoki-dashboard.json against @grafana/schema', () => {
  let errors: Record<string, string[]>;
  // One compiler run for the dashboard and every broken copy: seconds, more on a busy machine.
  beforeAll(() => {
    errors = grafanaSchemaErrors({ dashboard, ...Object.fromEntries(Object.entries(BREAKS).map(([name, b]) => [name, broken(b.change)])) });
  }, 180_000);

  it('conforms: the dashboard model, every row, every timeseries panel options and field config, every query', () => {
    expect(errors.dashboard).toEqual([]);
    expect(dashboard.panels.filter((p: Json) => p.type === 'timeseries').length).toBeGreaterThan(10);
  });

  it.each(Object.keys(BREAKS))('fails on a copy with %s', (name) => {
    const { where, says } = BREAKS[name]!;
    expect(errors[name]!.length, name).toBeGreaterThan(0);
    expect(errors[name]!.filter((e) => e.startsWith(`${name}/${where}`) && says.test(e)), errors[name]!.join('\n')).not.toEqual([]);
  });
});
