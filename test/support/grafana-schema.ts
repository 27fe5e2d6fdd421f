// Checks a Grafana dashboard JSON against Grafana's own schema, offline: the TypeScript types
// that Grafana generates from its CUE schemas and publishes as `@grafana/schema` (the dashboard
// model, and per core panel type its `Options` and `FieldConfig`). The JSON is pasted as an
// object literal with `satisfies <Type>` into in-memory modules and the TypeScript compiler
// checks them, so a wrong type, a missing required field, an unknown value of an enum and an
// unknown (misspelt) key all fail: excess-property checks apply to every nested literal.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import ts from 'typescript';

const require = createRequire(import.meta.url);
const SCHEMA_PACKAGE = '@grafana/schema';
const schemaRoot = dirname(require.resolve(`${SCHEMA_PACKAGE}/package.json`));
const schemaExports = (JSON.parse(readFileSync(join(schemaRoot, 'package.json'), 'utf8')) as { exports: Record<string, { types?: string }> }).exports;

// The export of a Grafana dashboard for sharing adds these, and Grafana's import strips them
// before it reads the model; they are not part of the dashboard schema.
const SHARE_ENVELOPE = ['__inputs', '__requires', '__elements'];

// Grafana's types use TypeScript string enums (LegendDisplayMode, GraphDrawStyle...), to which
// a JSON string is never assignable; this turns each enum back into the union of its values,
// which is what the JSON holds, and keeps every key and optional modifier as it is.
const JSON_OF = `type Json<T> = T extends string ? \`\${T}\` : T extends readonly (infer E)[] ? Json<E>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;`;

// Query fields of the Prometheus data source. @grafana/schema types only the fields every
// query has (`DataQuery`: refId, datasource, hide, queryType) and leaves the rest to the data
// source plugin, whose types it does not ship; these are Prometheus's names, so a misspelt one
// still fails.
const PROMETHEUS_QUERY = `{ expr: string; legendFormat?: string; range?: boolean; instant?: boolean; format?: 'time_series' | 'table' | 'heatmap'; interval?: string; intervalFactor?: number; exemplar?: boolean; editorMode?: 'code' | 'builder' }`;

/** The `@grafana/schema` subpath with the options and field config types of a core panel type, if Grafana has one. */
function panelConfigModule(type: string): { specifier: string; hasFieldConfig: boolean } | undefined {
  const key = Object.keys(schemaExports).find((k) => k.includes(`/raw/composable/${type}/panelcfg/x/`));
  if (!key) return undefined;
  const declarations = readFileSync(join(schemaRoot, schemaExports[key]!.types!), 'utf8');
  return { specifier: `${SCHEMA_PACKAGE}${key.slice(1)}`, hasFieldConfig: /export interface FieldConfig\b/.test(declarations) };
}

interface PanelJson {
  type?: unknown;
  title?: unknown;
  options?: unknown;
  fieldConfig?: unknown;
  targets?: unknown;
  panels?: PanelJson[];
}

/** One in-memory module per part that is checked, named so that an error says where it is. */
function checkModules(name: string, dashboard: Record<string, unknown>): Map<string, string> {
  const literal = (value: unknown) => JSON.stringify(value, null, 1);
  const modules = new Map<string, string>();
  const model = Object.fromEntries(Object.entries(dashboard).filter(([key]) => !SHARE_ENVELOPE.includes(key)));
  modules.set(`${name}/dashboard`, `import type { Dashboard } from '${SCHEMA_PACKAGE}';\n${JSON_OF}\nexport const dashboard = ${literal(model)} satisfies Json<Dashboard>;\n`);
  const panels = ((dashboard.panels ?? []) as PanelJson[]).flatMap((p) => [p, ...(p.panels ?? [])]);
  panels.forEach((panel, index) => {
    const where = `${name}/panel ${index} (${String(panel.title)})`;
    if (panel.type === 'row') {
      // In the dashboard's `Panel | RowPanel` a row would also pass as a Panel (type: string).
      modules.set(where, `import type { RowPanel } from '${SCHEMA_PACKAGE}';\n${JSON_OF}\nexport const row = ${literal(panel)} satisfies Json<RowPanel>;\n`);
      return;
    }
    const config = typeof panel.type === 'string' ? panelConfigModule(panel.type) : undefined;
    if (!config) {
      modules.set(where, `export const unknownPanelType: never = ${literal(panel.type)};\n`);
      return;
    }
    const fieldConfig = config.hasFieldConfig ? 'FieldConfigSource<P.FieldConfig>' : 'FieldConfigSource';
    modules.set(
      where,
      [
        `import type { DataQuery, FieldConfigSource } from '${SCHEMA_PACKAGE}';`,
        `import type * as P from '${config.specifier}';`,
        JSON_OF,
        panel.options === undefined ? '' : `export const options = ${literal(panel.options)} satisfies Json<P.Options>;`,
        panel.fieldConfig === undefined ? '' : `export const fieldConfig = ${literal(panel.fieldConfig)} satisfies Json<${fieldConfig}>;`,
        panel.targets === undefined ? '' : `export const targets = ${literal(panel.targets)} satisfies Json<Array<DataQuery & ${PROMETHEUS_QUERY}>>;`,
      ].join('\n'),
    );
  });
  return modules;
}

/**
 * Schema errors of each named dashboard (empty when it conforms), as `<name>/<part>: <message>`.
 * All dashboards are checked in one compiler run.
 */
export function grafanaSchemaErrors(dashboards: Record<string, Record<string, unknown>>): Record<string, string[]> {
  // The modules sit beside this file so that `@grafana/schema` resolves from node_modules.
  const base = join(dirname(new URL(import.meta.url).pathname), '__grafana-schema-check__');
  const files = new Map<string, { where: string; name: string; text: string }>();
  for (const [name, dashboard] of Object.entries(dashboards)) {
    for (const [where, text] of checkModules(name, dashboard)) files.set(join(base, `${files.size}.ts`), { where, name, text });
  }
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (file) => files.has(file) || fileExists.call(host, file);
  host.readFile = (file) => files.get(file)?.text ?? readFile.call(host, file);
  host.getSourceFile = (file, language, ...rest) => {
    const virtual = files.get(file);
    return virtual ? ts.createSourceFile(file, virtual.text, language) : getSourceFile.call(host, file, language, ...rest);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const errors: Record<string, string[]> = Object.fromEntries(Object.keys(dashboards).map((name) => [name, []]));
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const virtual = diagnostic.file && files.get(diagnostic.file.fileName);
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    if (!virtual) throw new Error(`the schema check itself failed: ${message}`);
    const line = diagnostic.start === undefined ? '' : `:${diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start).line + 1}`;
    errors[virtual.name]!.push(`${virtual.where}${line}: ${message}`);
  }
  return errors;
}
