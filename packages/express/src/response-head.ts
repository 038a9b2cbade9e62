import type { ServerResponse } from 'node:http';
import onHeaders from 'on-headers';

/** Told once that a response's head is about to be written (a second call must do nothing). */
export interface HeadWatcher {
  head(res: ServerResponse): void;
}

/**
 * Calls `watcher.head(res)` just before the response head is written, with
 * the status and headers as they will leave, as on-headers does. Every
 * response of a proxy or of `res.end()` writes its head with
 * `writeHead(statusCode)` (Node's implicit header): that call goes straight
 * through, no arguments copied. Any other call (a reason phrase, headers as
 * arguments) goes through on-headers, which first moves those headers onto
 * the response so the watcher sees them (and can remove them).
 */
export function watchResponseHead(res: ServerResponse, watcher: HeadWatcher): void {
  const prev = res.writeHead;
  res.writeHead = function writeHead(this: ServerResponse, statusCode: number): ServerResponse {
    if (arguments.length === 1 && typeof statusCode === 'number') {
      this.statusCode = statusCode;
      watcher.head(this);
      // the watcher may change the status (on-headers passes it on the same way)
      return prev.call(this, this.statusCode);
    }
    const shim = { writeHead: prev } as ServerResponse;
    onHeaders(shim, function onResponseHeaders(this: ServerResponse) {
      watcher.head(this);
    });
    return (shim.writeHead as (...a: unknown[]) => ServerResponse).apply(this, arguments as unknown as unknown[]);
  } as ServerResponse['writeHead'];
}
