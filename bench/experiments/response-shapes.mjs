// Why the guard adds no property to a response (packages/express/src/
// response-head.ts): once a response's prototype has been swapped, as
// Express does for every request (Object.setPrototypeOf(res,
// app.response)), V8 gives each property added to it a hidden class of its
// own: two responses never share one again, so every later access to them
// (Node's, the proxy's, ours) misses its inline cache.
//   node --allow-natives-syntax bench/experiments/response-shapes.mjs
import http from 'node:http';

let sameMap;
try {
  sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)');
} catch {
  console.error('run with: node --allow-natives-syntax bench/experiments/response-shapes.mjs');
  process.exit(2);
}

const response = () => new http.ServerResponse(new http.IncomingMessage(null));
const a = response();
const b = response();
console.log('two fresh node:http responses share a hidden class:', sameMap(a, b));
a.extra = 1;
b.extra = 1;
console.log('  … and after the same property is added to both:', sameMap(a, b));

const c = response();
const d = response();
const appResponse = Object.create(http.ServerResponse.prototype);
Object.setPrototypeOf(c, appResponse);
Object.setPrototypeOf(d, appResponse);
console.log('two responses given one new prototype (what Express does):', sameMap(c, d));
c.locals = {};
d.locals = {};
console.log('  … after Express adds res.locals to both:', sameMap(c, d));
c.writeHead = function writeHead() {};
d.writeHead = function writeHead() {};
console.log('  … after one more, as on-headers added to every response:', sameMap(c, d));
