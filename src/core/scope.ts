// tidy(): every tensor made inside the function and not returned is disposed when it ends, so a
// training step written naturally leaks nothing. Scopes nest; returned tensors move to the
// enclosing scope. Parameters, optimizer state and gradients are kept (see keep()).

interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const scopes: Set<Disposable>[] = [];
const scopeOf = new WeakMap<Disposable, Set<Disposable>>();

export function registerInScope(t: Disposable): void {
  const top = scopes[scopes.length - 1];
  if (!top) return;
  top.add(t);
  scopeOf.set(t, top);
}

export function forgetFromScopes(t: Disposable): void {
  const scope = scopeOf.get(t);
  if (scope) {
    scope.delete(t);
    scopeOf.delete(t);
  }
}

function collect(value: unknown, into: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if ('dispose' in value && 'isDisposed' in value) {
    into.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, into, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, into, depth + 1);
  }
}

/**
 * Runs `fn` and disposes every tensor created inside that it does not return (returned tensors,
 * also inside arrays and plain objects, move to the enclosing scope). `fn` must be synchronous:
 * read values back (await) outside, from the tensors it returns.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const t of scope) {
      scopeOf.delete(t);
      t.dispose();
    }
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    throw new TypeError('tidy() takes a synchronous function: await read-backs outside it, on the tensors it returns');
  }
  const kept = new Set<Disposable>();
  collect(result, kept);
  for (const t of scope) {
    scopeOf.delete(t);
    if (!kept.has(t)) t.dispose();
  }
  for (const t of kept) if (scope.has(t)) registerInScope(t);
  return result;
}

/** Exempts a tensor from disposal by the enclosing tidy() scopes; you dispose it yourself. */
export function keep<T extends Disposable>(t: T): T {
  forgetFromScopes(t);
  return t;
}
