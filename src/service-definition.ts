// Reads a service class once: its name, its entrypoints (marked methods) and its declared
// dependency providers. Everything the container needs to know about the user's class
// comes from here, so the rules (and their error messages) live in one place.

import { getMethodMarks, type MethodMarks } from './decorators.js';
import { EnokiError } from './errors.js';
import { hasProviderBrand } from './provider-brand.js';
import { readSignature, type Signature } from './signature.js';

/**
 * A service class: made with no arguments (a fresh instance serves every call), and
 * named by `static name = '...'` (as nameko's `name`) or `static serviceName`. `T` is
 * its instance type.
 */
// biome-ignore lint: a service class can take any constructor shape
export type ServiceClass<T = any> = (new () => T) & { readonly name: string };

/** One entrypoint method of a service: its marks, and its parameters as read from its source. */
export interface MethodDefinition extends MethodMarks {
  /** Its parameters: how an entrypoint binds keyword arguments to them. */
  readonly signature: Signature;
}

/** A service class read once: its name, its entrypoint methods and its dependency fields. */
export interface ServiceDefinition {
  /** The class itself. */
  readonly cls: ServiceClass;
  /** The service name (`static name`). */
  readonly name: string;
  /** Every method with at least one entrypoint, by property name. */
  readonly methods: ReadonlyMap<string, MethodDefinition>;
  /** Names of the instance fields that hold dependency providers. */
  readonly dependencyNames: readonly string[];
}

const SERVICE_NAME = /^[A-Za-z0-9_-]+$/;
const definitions = new WeakMap<Function, ServiceDefinition>();

/** The service's name: `static name = '...'` (as nameko's `name`), or `static serviceName`. */
export function serviceNameOf(cls: Function): string {
  const declared = (cls as { serviceName?: unknown }).serviceName;
  if (typeof declared === 'string') return declared;
  // A class always has an own `name`; only one declared with `static name = ...` is writable.
  const desc = Object.getOwnPropertyDescriptor(cls, 'name');
  if (desc && desc.writable && typeof desc.value === 'string') return desc.value;
  throw new EnokiError('ENOKI_ERR_SERVICE_INVALID', [cls.name || '<anonymous>', "it has no `static name = '<service_name>'`"]);
}

function isEntrypoint(marks: MethodMarks | undefined): marks is MethodMarks {
  return marks !== undefined && marks.entrypoints.length > 0;
}

/**
 * True for a class with at least one entrypoint method (own or inherited): what
 * `enoki run module` picks from a module's exports, and what a service must have.
 */
export function hasEntrypoints(value: unknown): boolean {
  if (typeof value !== 'function' || !value.prototype) return false;
  for (let proto = value.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key !== 'constructor' && isEntrypoint(getMethodMarks(Object.getOwnPropertyDescriptor(proto, key)?.value))) return true;
    }
  }
  return false;
}

/** Reads (once, cached) what the container needs to know about a service class. */
export function defineService(cls: ServiceClass): ServiceDefinition {
  const cached = definitions.get(cls);
  if (cached) return cached;
  if (typeof cls !== 'function' || !cls.prototype) {
    throw new EnokiError('ENOKI_ERR_SERVICE_INVALID', [String(cls), 'it is not a class']);
  }
  const name = serviceNameOf(cls);
  if (!SERVICE_NAME.test(name)) {
    throw new EnokiError('ENOKI_ERR_SERVICE_INVALID', [name, 'a service name is letters, digits, _ and - (it becomes a routing key prefix)']);
  }

  const methods = new Map<string, MethodDefinition>();
  // Walk the prototype chain so a service can inherit entrypoints from a base class;
  // the most derived definition of a method wins.
  for (let proto = cls.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === 'constructor' || methods.has(key)) continue;
      const fn = Object.getOwnPropertyDescriptor(proto, key)?.value;
      const marks = getMethodMarks(fn);
      if (!isEntrypoint(marks)) continue;
      methods.set(key, { ...marks, methodName: key, signature: readSignature(fn as Function, key) });
    }
  }

  let probe: Record<string, unknown>;
  try {
    probe = new cls() as Record<string, unknown>;
  } catch (err) {
    throw new EnokiError('ENOKI_ERR_SERVICE_INVALID', [name, `its constructor threw: ${(err as Error).message}`], { cause: err });
  }
  const dependencyNames = Object.keys(probe).filter((key) => hasProviderBrand(probe[key]));

  const definition: ServiceDefinition = { cls, name, methods, dependencyNames };
  definitions.set(cls, definition);
  return definition;
}
