// Which module defines a service class, for pool threads to import it from.
//
// `enoki run` knows (it loaded the file) and passes ContainerOptions.module; a program that
// starts services itself may pass `import.meta.url`, or nothing: then we ask V8. A function
// object knows the script it was compiled in ([[FunctionLocation]]), and the inspector
// protocol maps that script to its URL. This works for any loader (plain Node, tsx,
// vitest), needs no cooperation from the decorators, and costs one in-process inspector
// session (~30 ms) once per class at container start. ESM offers no other way: the module
// registry is not enumerable, and a stack trace taken at container construction names the
// caller's file, not the class's.

import { Session } from 'node:inspector/promises';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const located = new WeakMap<Function, string | undefined>();
let sequence = 0;

/** A module given as a URL, an absolute path or a path relative to the working directory, as a URL. */
export function moduleUrl(module: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) return module;
  return pathToFileURL(isAbsolute(module) ? module : resolve(module)).href;
}

/** The URL of the module in which `cls` was defined, or undefined if V8 cannot tell (eval, no inspector). */
export async function locateModule(cls: Function): Promise<string | undefined> {
  if (located.has(cls)) return located.get(cls);
  let url: string | undefined;
  try {
    url = await askInspector(cls);
  } catch {
    url = undefined; // Node built without the inspector, or it refused: the caller asks for the option instead
  }
  if (url !== undefined && url !== '') url = moduleUrl(url);
  else url = undefined;
  located.set(cls, url);
  return url;
}

async function askInspector(cls: Function): Promise<string | undefined> {
  const session = new Session();
  session.connect();
  // The protocol reaches objects by expression; park the class on globalThis briefly.
  const slot = `__enokiLocate${process.pid}_${++sequence}`;
  const global = globalThis as Record<string, unknown>;
  global[slot] = cls;
  try {
    const { result } = await session.post('Runtime.evaluate', { expression: `globalThis[${JSON.stringify(slot)}]` });
    if (!result.objectId) return undefined;
    const { internalProperties } = await session.post('Runtime.getProperties', { objectId: result.objectId, ownProperties: true });
    const location = internalProperties?.find((p) => p.name === '[[FunctionLocation]]')?.value?.value as { scriptId?: string } | undefined;
    if (!location?.scriptId) return undefined;
    let url: string | undefined;
    // Debugger.enable replays scriptParsed for every script already loaded, synchronously
    // within this session; we keep the one we want and disable it again at once.
    session.on('Debugger.scriptParsed', (message) => {
      if (message.params.scriptId === location.scriptId) url = message.params.url;
    });
    await session.post('Debugger.enable');
    await session.post('Debugger.disable');
    return url;
  } finally {
    delete global[slot];
    session.disconnect();
  }
}
