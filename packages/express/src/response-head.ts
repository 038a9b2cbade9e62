import { ServerResponse } from 'node:http';
import onHeaders from 'on-headers';

/** Told once that a response's head is about to be written (a second call must do nothing). */
export interface HeadWatcher {
  head(res: ServerResponse): void;
}

type WriteHead = (this: ServerResponse, ...args: unknown[]) => ServerResponse;

// the responses being watched through ServerResponse.prototype.writeHead, each until its head leaves
const watchers = new WeakMap<ServerResponse, HeadWatcher>();
let prototypeWriteHead: WriteHead | null = null;

/**
 * Calls `watcher.head(res)` just before the response head is written, with
 * the status and headers as they will leave, as on-headers does.
 *
 * Why not on-headers itself: it gives each response its own writeHead
 * property, and once Express has swapped a response's prototype (every
 * request), V8 makes a new hidden class for each property added to it,
 * so every later access to that response, in Node and in the proxy, misses
 * its inline caches: measured at tens of µs of CPU per request. A response
 * whose writeHead is still ServerResponse.prototype's (watchHeads installed
 * there) is instead looked up in a WeakMap, nothing added to it. Any other
 * response (its writeHead replaced before the guard ran, or not a node:http
 * response) gets its own wrapper, as before.
 */
export function watchResponseHead(res: ServerResponse, watcher: HeadWatcher): void {
  if (prototypeWriteHead !== null && res.writeHead === prototypeWriteHead) {
    watchers.set(res, watcher);
    return;
  }
  const prev = res.writeHead as WriteHead;
  res.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]): ServerResponse {
    return headThenWrite(this, watcher, prev, args);
  } as ServerResponse['writeHead'];
}

/**
 * Puts the watch into ServerResponse.prototype.writeHead, once per process:
 * a response nobody watches goes straight to the original (one WeakMap
 * lookup). Call before requests arrive; never undone (another guard, or
 * another copy of this package, may rely on it).
 */
export function watchHeads(): void {
  if (prototypeWriteHead !== null) return;
  const original = ServerResponse.prototype.writeHead as WriteHead;
  prototypeWriteHead = function writeHead(this: ServerResponse, ...args: unknown[]): ServerResponse {
    const watcher = watchers.get(this);
    if (watcher === undefined) return original.apply(this, args);
    watchers.delete(this);
    return headThenWrite(this, watcher, original, args);
  };
  ServerResponse.prototype.writeHead = prototypeWriteHead as ServerResponse['writeHead'];
}

/**
 * The watched writeHead: `writeHead(statusCode)`, what Node's implicit
 * header and every proxied response call, goes straight through; any other
 * call (a reason phrase, headers as arguments) goes through on-headers,
 * which first moves those headers onto the response so the watcher sees
 * them (and can remove them).
 */
function headThenWrite(res: ServerResponse, watcher: HeadWatcher, prev: WriteHead, args: unknown[]): ServerResponse {
  const statusCode: unknown = args[0];
  if (args.length === 1 && typeof statusCode === 'number') {
    res.statusCode = statusCode;
    watcher.head(res);
    // the watcher may change the status (on-headers passes it on the same way)
    return prev.call(res, res.statusCode);
  }
  const shim = { writeHead: prev } as unknown as ServerResponse;
  onHeaders(shim, function onResponseHeaders(this: ServerResponse) {
    watcher.head(this);
  });
  return (shim.writeHead as WriteHead).apply(res, args);
}
