/**
 * The properties of a message that the outbox can keep on disk: JSON values (strings, finite numbers,
 * booleans, null, arrays and plain objects of them) and Buffers, at any depth. A top-level property whose
 * value holds anything else (a function, a socket, `msg.req`/`msg.res`, a Date, a Map, a cycle) is left out
 * as a whole, and its name is returned so the caller can warn about it. `skip` names a property left out
 * on purpose (the payload, when the stored body already holds it).
 */
export function storableProperties(msg: Record<string, unknown>, skip?: string): { props: Record<string, unknown>; dropped: string[] } {
  const props: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(msg)) {
    if (value === undefined || name === skip) continue;
    if (isStorable(value, 0, new Set())) props[name] = value;
    else dropped.push(name);
  }
  return { props, dropped };
}

/** Deeper than this, a value is not kept (a guard against pathological nesting, not a limit users meet). */
const MAX_DEPTH = 64;

function isStorable(value: unknown, depth: number, seen: Set<object>): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (Buffer.isBuffer(value)) return true;
      if (depth >= MAX_DEPTH || seen.has(value)) return false;
      const proto = Object.getPrototypeOf(value) as unknown;
      const isArray = Array.isArray(value);
      if (!isArray && !isPlainPrototype(proto)) return false;
      seen.add(value);
      const ok = isArray
        ? (value as unknown[]).every((v) => isStorable(v, depth + 1, seen))
        : Object.values(value as Record<string, unknown>).every((v) => v === undefined || isStorable(v, depth + 1, seen));
      seen.delete(value);
      return ok;
    }
    default:
      return false;
  }
}

/**
 * Whether an object with this prototype is a plain object: `Object.prototype` of this realm or of another
 * one (a function node's objects come from its vm sandbox), or none. A Date, Map or class instance is not.
 */
function isPlainPrototype(proto: unknown): boolean {
  if (proto === null || proto === Object.prototype) return true;
  if (typeof proto !== "object" || Object.getPrototypeOf(proto) !== null) return false;
  const ctor = Object.getOwnPropertyDescriptor(proto, "constructor")?.value as unknown;
  return typeof ctor === "function" && ctor.name === "Object" && (ctor as { prototype?: unknown }).prototype === proto;
}
