// The `enoki` command line: `run` (services in one process, as `nameko run`) and
// `show-config`. bin/enoki.js loads this: compiled, with plain Node, in an installed
// package; through tsx in enoki's own repository.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig, maskUri, showConfig, type EnokiConfig } from './config.js';
import { EnokiError, isEnokiError } from './errors.js';
import { createLogger } from './logger.js';
import { moduleExports } from './module-exports.js';
import { hasEntrypoints, serviceNameOf, type ServiceClass } from './service-definition.js';
import { ServiceRunner } from './service-runner.js';
import { ensureTypeScriptLoader, isTypeScriptModule } from './typescript-loader.js';

const USAGE = `Usage:
  enoki run [--config config.yaml] [--broker amqp://...] module:Class [module[:Class] ...]
  enoki show-config [--config config.yaml]

  module  a path relative to the current directory, with or without its extension
          (.ts .mts .cts .js .mjs .cjs; a folder means its index file):
          services, ./services/service1/service1.ts, services.service1.service1
  Class   an exported service class; without it, every service class the module exports

Options:
  --config, -c  YAML config file (nameko's keys; \${VAR:default} substitution)
  --broker      AMQP URI, overriding AMQP_URI from the config
  --help, -h    this text
  --version     enoki's version

Stop with Ctrl-C or SIGTERM: calls in flight finish and are answered first.
A second Ctrl-C kills at once; unanswered requests return to their queue.`;

export interface ResolvedService {
  cls: ServiceClass;
  module: string;
  exportName: string;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        broker: { type: 'string' },
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
  try {
    const config = readConfig(values.config, values.broker);
    switch (command) {
      case 'show-config':
        process.stdout.write(showConfig(config));
        return 0;
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
  } catch (err) {
    process.stderr.write(`enoki: ${isEnokiError(err) ? `${err.message} [${err.code}]` : ((err as Error).stack ?? String(err))}\n`);
    return 1;
  }
}

function readConfig(path: string | undefined, broker: string | undefined): EnokiConfig {
  const config = path ? loadConfig(path) : loadConfig();
  if (!broker) return config;
  // Validated and normalised (pyamqp://) by the same rules as AMQP_URI in a file.
  return { ...config, AMQP_URI: loadConfig({ AMQP_URI: broker }).AMQP_URI };
}

async function run(config: EnokiConfig, specs: string[]): Promise<number> {
  const logger = createLogger(config.LOGGING);
  const services: ResolvedService[] = [];
  for (const spec of specs) services.push(...(await resolveServices(spec)));
  const runner = new ServiceRunner(config, { logger });
  for (const service of services) runner.add(service.cls, { module: service.module, exportName: service.exportName });

  let stopping = false;
  const stopped = new Promise<number>((resolveExit) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (!stopping) {
        stopping = true;
        logger.info(`${signal}: stopping (calls in flight finish first; ${signal === 'SIGINT' ? 'Ctrl-C' : 'signal'} again to kill)`);
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
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });

  try {
    await runner.start();
  } catch (err) {
    if (isEnokiError(err, 'ENOKI_ERR_CONNECT')) {
      process.stderr.write(
        `enoki: ${err.message}\n  Is RabbitMQ running? Start it with \`rabbitmq-server -detached\` (or docker run -p 5672:5672 rabbitmq:3),\n  or point --broker / AMQP_URI at one. Broker: ${maskUri(config.AMQP_URI)}\n`,
      );
      return 1;
    }
    throw err;
  }
  logger.info(
    { services: runner.containers.map((c) => c.serviceName), broker: maskUri(config.AMQP_URI) },
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
    mod = moduleExports((await import(url)) as Record<string, unknown>);
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
