// Live memory for tests that bound it: a full collection first, so garbage is not counted.
// --expose-gc is set from inside (node --test does not pass it on), and gc is taken from a fresh
// context, where V8 installs it once the flag is set.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap and ArrayBuffer bytes still reachable after a full garbage collection. */
export function liveMemory(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
