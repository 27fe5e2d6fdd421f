// The `enoki` command line: `run` (services in one process, as `nameko run`) and
// `show-config`. bin/enoki.js loads this: compiled, with plain Node, in an installed
// package; through tsx in enoki's own repository.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { maskUris, showConfig, type EnokiConfig } from './config.js';
import { CALL_USAGE, callCommand } from './cli-call.js';
import { readConfig } from './cli-config.js';
import { SHELL_USAGE, shellCommand } from './cli-shell.js';
import { EnokiError, isEnokiError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { importModule, moduleExports } from './module-exports.js';
import { hasEntrypoints, serviceNameOf, type ServiceClass } from './service-definition.js';
import { ServiceRunner } from './service-runner.js';
import { ensureTypeScriptLoader, isTypeScriptModule } from './typescript-loader.js';
import { launchedByNpm, watchLauncher } from './launcher-watch.js';
import { withOtelSdk } from './tracing/otel-sdk.js';

const USAGE = `Usage:
  enoki run [--config config.yaml] [--broker amqp://...] module:Class [module[:Class] ...]
  enoki show-config [--config config.yaml] [--format yaml|json]
${CALL_USAGE}
${SHELL_USAGE}

  module  a path relative to the current directory, with or without its extension
          (.ts .mts .cts .js .mjs .cjs; a folder means its index file):
          services, ./services/service1/service1.ts, services.service1.service1
  Class   an exported service class; without it, every service class the module exports

Options:
  --config, -c  YAML config file (nameko's keys; \${VAR:default} substitution);
                default ./config.yaml when it exists
  --broker      AMQP URI, overriding AMQP_URI from the config and the environment
  --format      show-config output: yaml (default) or json
  --help, -h    this text
  --version     enoki's version

Every config key can be set from the environment: AMQP_URI, STARTUP_TIMEOUT,
POOL_THREADS (section keys as SECTION_KEY). Precedence: defaults < file < environment < flags.
A broker that cannot be reached yet is waited for up to STARTUP_TIMEOUT seconds (0 = forever).

Stop with Ctrl-C or SIGTERM: calls in flight finish and are answered first.
A second Ctrl-C kills at once; unanswered requests return to their queue.`;

export interface ResolvedService {
  cls: ServiceClass;
  module: string;
  exportName: string;
}

export async function main(argv: string[]): Promise<number> {
  // `call` reads its own arguments: `-5` there is a value, not an unknown option.
  if (argv[0] === 'call') return handled(() => callCommand(argv.slice(1)));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        broker: { type: 'string' },
        format: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (err) {
    process.stderr.write(`enoki: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.version) {
    process.stdout.write(`enoki ${packageVersion()}\n`);
    return 0;
  }
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  return handled(async () => {
    const config = readConfig(values.config, values.broker);
    switch (command) {
      case 'show-config': {
        const format = values.format ?? 'yaml';
        if (format !== 'yaml' && format !== 'json') {
          process.stderr.write(`enoki show-config: --format is yaml or json, not ${JSON.stringify(format)}\n`);
          return 2;
        }
        process.stdout.write(showConfig(config, format));
        return 0;
      }
      case 'shell':
        return await shellCommand(config);
      case 'run':
        if (rest.length === 0) {
          process.stderr.write(`enoki run: name at least one service, e.g. services:GreetingService\n\n${USAGE}\n`);
          return 2;
        }
        return await run(config, rest);
      default:
        process.stderr.write(`enoki: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`);
        return 2;
    }
  });
}

/** Run a command; an error it throws is printed (coded errors as message and code) and exits 1. */
async function handled(command: () => Promise<number>): Promise<number> {
  try {
    return await command();
  } catch (err) {
    process.stderr.write(`enoki: ${isEnokiError(err) ? `${err.message} [${err.code}]` : ((err as Error).stack ?? String(err))}\n`);
    return 1;
  }
}

async function run(config: EnokiConfig, specs: string[]): Promise<number> {
  const logger = createLogger(config.LOGGING);
  const services: ResolvedService[] = [];
  for (const spec of specs) services.push(...(await resolveServices(spec)));
  // OTEL_* variables asking for an exporter start the SDK before any service takes a call.
  return withOtelSdk([...new Set(services.map((s) => serviceNameOf(s.cls)))], logger, () => runServices(config, services, logger));
}

async function runServices(config: EnokiConfig, services: ResolvedService[], logger: Logger): Promise<number> {
  const runner = new ServiceRunner(config, { logger });
  for (const service of services) runner.add(service.cls, { module: service.module, exportName: service.exportName });

  let stopping = false;
  let started = false;
  const stopped = new Promise<number>((resolveExit) => {
    const onSignal = (signal: NodeJS.Signals, why = `${signal}: stopping`): void => {
      if (!stopping && !started) {
        // Still waiting for the broker: nothing is consuming, so there is nothing to finish.
        stopping = true;
        logger.info(`${why} before startup finished`);
        runner.kill().finally(() => resolveExit(0));
      } else if (!stopping) {
        stopping = true;
        logger.info(`${why} (calls in flight finish first; ${signal === 'SIGINT' ? 'Ctrl-C' : 'signal'} again to kill)`);
        runner.stop().then(
          () => resolveExit(0),
          (err) => {
            logger.error({ err }, 'graceful stop failed');
            resolveExit(1);
          },
        );
      } else {
        logger.warn(`${signal} again: killing; unanswered requests return to their queue`);
        runner.kill().finally(() => resolveExit(130));
      }
    };
    // Node passes the signal's number as a second argument: do not let it become `why`.
    process.on('SIGINT', (signal) => onSignal(signal));
    process.on('SIGTERM', (signal) => onSignal(signal));
    if (launchedByNpm()) {
      watchLauncher((pid) => onSignal('SIGTERM', `the process that launched enoki (pid ${pid}, npm or its shell) exited: stopping as for SIGTERM`));
    }
  });

  try {
    // A broker that cannot be reached yet is waited for (STARTUP_TIMEOUT, each retry
    // logged at warn); what fails here is coded by cause, with its next step.
    await runner.start();
  } catch (err) {
    // Stopped by a signal while waiting for the broker: that is a clean exit.
    if (stopping) return await stopped;
    throw err;
  }
  started = true;
  logger.info(
    { services: runner.containers.map((c) => c.serviceName), broker: maskUris(config.AMQP_URI) },
    `enoki running ${runner.containers.map((c) => c.serviceName).join(', ')}`,
  );
  const code = await stopped;
  logger.flush?.();
  return code;
}

/** `module:Class` or `module` (all service classes it exports), relative to the working directory. */
export async function resolveServices(spec: string, cwd = process.cwd()): Promise<ResolvedService[]> {
  const colon = spec.lastIndexOf(':');
  // A Windows drive letter or a bare module: no class named.
  const hasClass = colon > 1;
  const modulePart = hasClass ? spec.slice(0, colon) : spec;
  const className = hasClass ? spec.slice(colon + 1) : undefined;
  const file = resolveModuleFile(modulePart, cwd);
  if (!file) {
    throw new EnokiError('ENOKI_ERR_SERVICE_LOAD', [spec, `no module ${modulePart} under ${cwd} (tried ${EXTENSIONS.join(', ')} and a folder's index)`]);
  }
  const url = pathToFileURL(file).href;
  let mod: Record<string, unknown>;
  try {
    // Only the user's TypeScript needs tsx; enoki itself and plain JavaScript do not.
    if (isTypeScriptModule(file)) await ensureTypeScriptLoader();
    mod = moduleExports(await importModule(file));
  } catch (err) {
    throw new EnokiError('ENOKI_ERR_SERVICE_LOAD', [spec, `importing ${file} failed: ${(err as Error).stack ?? err}`], { cause: err });
  }
  if (className) {
    const cls = mod[className];
    if (typeof cls !== 'function') {
      const found = Object.keys(mod).filter((k) => hasEntrypoints(mod[k]));
      throw new EnokiError('ENOKI_ERR_SERVICE_LOAD', [spec, `${file} exports no class ${className}${found.length ? ` (service classes there: ${found.join(', ')})` : ''}`]);
    }
    if (!hasEntrypoints(cls)) throw noEntrypoints(className, cls, file);
    return [{ cls: cls as ServiceClass, module: url, exportName: className }];
  }
  const all = Object.entries(mod).filter(([, value]) => hasEntrypoints(value));
  if (all.length === 0) {
    // A class that names a service but marks nothing is the likelier mistake: say so.
    const named = Object.entries(mod).find(([, value]) => typeof value === 'function' && declaresServiceName(value));
    if (named) throw noEntrypoints(named[0], named[1] as Function, file);
    throw new EnokiError('ENOKI_ERR_SERVICE_LOAD', [spec, `${file} exports no service classes (classes with entrypoints: @rpc, @http, @eventHandler, @timer or your own)`]);
  }
  return all.map(([exportName, cls]) => ({ cls: cls as ServiceClass, module: url, exportName }));
}

/** `static name = 'greeter'` hides the class's own name, so the export name labels it. */
function noEntrypoints(exportName: string, cls: Function, file: string): EnokiError {
  const label = exportName === 'default' ? cls.name || 'default' : exportName;
  return new EnokiError('ENOKI_ERR_NO_ENTRYPOINTS', [label, `${describeService(cls)}in ${file}`, label]);
}

function describeService(cls: Function): string {
  try {
    return `service '${serviceNameOf(cls)}' `;
  } catch {
    return '';
  }
}

function declaresServiceName(cls: Function): boolean {
  try {
    serviceNameOf(cls);
    return true;
  } catch {
    return false;
  }
}

const EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];

function resolveModuleFile(modulePart: string, cwd: string): string | undefined {
  const bases = [modulePart];
  // nameko style: services.service1.service1
  if (!modulePart.includes('/') && modulePart.includes('.') && !/\.[cm]?[jt]s$/.test(modulePart)) bases.push(modulePart.split('.').join('/'));
  for (const base of bases) {
    const abs = resolve(cwd, base);
    const candidates = [abs, ...EXTENSIONS.map((ext) => `${abs}${ext}`), ...EXTENSIONS.map((ext) => join(abs, `index${ext}`))];
    for (const candidate of candidates) {
      if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
    }
  }
  return undefined;
}

/** This copy's version, from the package.json above this file (src/ or dist/src/). */
function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'enoki' && pkg.version) return pkg.version;
  }
  return 'unknown';
}
