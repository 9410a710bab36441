// Fuzzing the Sieve parser and interpreter (fixed seed): mutated scripts never crash the
// compiler (they compile or give line:column errors), and every compile and run stays
// within a bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSieve, runSieve } from './index.js';
import { MSG, testEnv } from '../../test/helpers/sieve.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS = [
  'require ["fileinto", "variables", "imap4flags", "relational", "comparator-i;ascii-numeric", "regex", "body", "date", "index", "editheader", "include", "envelope", "subaddress"];\n',
  'if header :matches "List-ID" "*<*@*" { fileinto "INBOX.lists.${2}"; stop; }\n',
  'if anyof (not exists ["From", "Date"], header :contains "from" "fool@example.com") { discard; }\n',
  'if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] ["3"] { addflag "\\\\Flagged"; }\n',
  'set :upper "a" "${1}"; if string :is "${a}" "" { keep; } elsif true { discard; } else { redirect "a@b.example"; }\n',
  'if body :raw :contains text:\nfoo\n..bar\n.\n { deleteheader :index 1 :last "x"; addheader "X-A" "b"; }\n',
  'if header :regex "subject" "^(a|b)*c[[:alpha:]]{1,3}$" { fileinto :flags "x" "y"; }\n',
  'if date :zone "+0100" :value "gt" "date" "year" "2000" { keep; } /* comment */ # hash\n',
  'if size :over 1K { discard; } if envelope :detail "to" "x" { keep; }\n',
];
const TOKENS = ['{', '}', '(', ')', '[', ']', ',', ';', '"', ':is', ':matches', ':count', 'if', 'elsif', 'else', 'not', 'allof', 'anyof', 'text:\n', '\n.\n', '${', '}', '\\', '*', '?', '/*', '*/', '#', '99999999999999999999', '1G', 'require', 'include', 'stop'];

test('fuzzed scripts compile or fail cleanly, quickly, and run within the CPU budget', async () => {
  const next = rng(20250401);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)]!;
  const deadline = Date.now() + 4000;
  let compiled = 0;
  let iterations = 0;
  for (let i = 0; i < 4000 && Date.now() < deadline; i++) {
    iterations++;
    let s = SEEDS[0]! + Array.from({ length: 1 + Math.floor(next() * 4) }, () => pick(SEEDS.slice(1))).join('');
    const edits = Math.floor(next() * 6);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(next() * (s.length + 1));
      const r = next();
      if (r < 0.4) s = s.slice(0, at) + pick(TOKENS) + s.slice(at);
      else if (r < 0.7) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(next() * 5));
      else s = s.slice(0, at) + String.fromCharCode(Math.floor(next() * 128)) + s.slice(at);
    }
    const t0 = Date.now();
    let c: ReturnType<typeof compileSieve>;
    try {
      c = compileSieve(s);
    } catch (err) {
      assert.fail(`compileSieve threw on ${JSON.stringify(s)}: ${(err as Error).stack}`);
    }
    assert.ok(Date.now() - t0 < 500, `compile took ${Date.now() - t0} ms: ${JSON.stringify(s)}`);
    if (!c.ok) {
      for (const e of c.errors) {
        assert.ok(e.line >= 1 && e.column >= 1 && e.message.length > 0, JSON.stringify(e));
      }
      continue;
    }
    compiled++;
    const t1 = Date.now();
    const r = await runSieve(c.script, { raw: Buffer.from(MSG), envelope: { from: 'a@example.net', to: 'ken+x@example.org' } }, testEnv(), { limits: { cpuMs: 100 } });
    assert.ok(r.actions.length > 0, 'a run always ends in some action');
    assert.ok(Date.now() - t1 < 1500, `run took ${Date.now() - t1} ms: ${JSON.stringify(s)}`);
  }
  assert.ok(iterations > 200, `only ${iterations} iterations`);
  assert.ok(compiled > 10, `only ${compiled} scripts compiled; the fuzzer should reach the interpreter`);
});
