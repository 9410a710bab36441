// Runs a validated script: commands in order (RFC 5228 §2.10), if/elsif/else chains, the
// implicit keep (§2.10.2), run-time errors (§2.10.6), and the budgets that keep a hostile
// script from stalling delivery (steps and CPU time, actions, includes).
import { parseMessage } from '../message/parser.js';
import { headerBytesToString } from '../message/headers.js';
import { COMMANDS, TESTS } from './registry.js';
import { readHeaders } from './message.js';
import { expand, MAX_VARIABLE_LENGTH, validVariableName } from './variables.js';
import { currentFlags } from './imap4flags.js';
import { SieveRuntimeError, type Flow, type Runtime, type VNode } from './runtime.js';
import type { SieveAction, SieveEnv, SieveLimits, SieveMessage, SieveResult } from './types.js';
import type { Pos } from './parser.js';

/** What a compiled script holds inside (index.ts keeps it out of the public type). */
export interface ScriptBody {
  name: string;
  requires: Set<string>;
  tree: VNode[];
}

/** Compiles an included script (set by index.ts to avoid an import cycle). */
export type IncludeCompiler = (text: string, name: string) => ScriptBody | string;

/** Steps between two looks at the clock. */
const CLOCK_EVERY = 64;
/** Hard cap on steps whatever the clock says. */
const MAX_STEPS = 5_000_000;

export class BudgetExceeded extends SieveRuntimeError {}

export async function runBlock(cmds: VNode[], rt: Runtime): Promise<Flow> {
  let chainDone = false;
  for (const c of cmds) {
    rt.step();
    if (c.name === 'if' || c.name === 'elsif' || c.name === 'else') {
      // RFC 5228 §3.1: only the first branch whose test is true runs.
      if (c.name === 'if') chainDone = false;
      if (chainDone) continue;
      const ok = c.name === 'else' ? true : await evalTest(c.tests[0]!, rt);
      if (!ok) continue;
      chainDone = true;
      const f = await runBlock(c.block!, rt);
      if (f) return f;
      continue;
    }
    const f = await COMMANDS.get(c.name)!.run(c, rt);
    if (f) return f;
  }
  return undefined;
}

export async function evalTest(t: VNode, rt: Runtime): Promise<boolean> {
  rt.step();
  return TESTS.get(t.name)!.test(t, rt);
}

function where(at: Pos | null, script: string): string {
  return at ? `${script}: ${at.line}:${at.column}: ` : `${script}: `;
}

export async function execute(script: ScriptBody, msg: SieveMessage, env: SieveEnv, limits: SieveLimits, compileInclude: IncludeCompiler): Promise<SieveResult> {
  const structure = parseMessage(msg.raw);
  const headerEnd = structure.root.bodyStart;
  const headerEncoding = headerBytesToString(msg.raw.subarray(0, headerEnd)).encoding;
  let steps = 0;
  let deadline = Date.now() + limits.cpuMs;
  const includeStack: string[] = [];
  const included = new Set<string>();
  const compiled = new Map<string, ScriptBody>();
  let includes = 0;
  let current = script;

  const rt: Runtime = {
    msg,
    env,
    limits,
    structure,
    headers: readHeaders(msg.raw, headerEnd),
    headersEdited: false,
    actions: [],
    implicitKeep: true,
    discarded: false,
    flags: [],
    match: [],
    requires: script.requires,
    vars: new Map(),
    globals: new Map(),
    globalNames: new Set(),
    errors: [],
    includeDepth: 0,
    step() {
      if (++steps % CLOCK_EVERY === 0 && Date.now() > deadline) throw new BudgetExceeded(null, `script ran longer than ${limits.cpuMs} ms`);
      if (steps > MAX_STEPS) throw new BudgetExceeded(null, 'script took too many steps');
    },
    async wait<T>(p: Promise<T>): Promise<T> {
      const t0 = Date.now();
      try {
        return await p;
      } finally {
        deadline += Date.now() - t0;
      }
    },
    str(s) {
      return rt.requires.has('variables') ? expand(s, rt) : s;
    },
    list(l) {
      return (typeof l === 'string' ? [l] : l).map((s) => rt.str(s));
    },
    addAction(a: SieveAction) {
      if (rt.actions.length >= limits.maxActions) throw new SieveRuntimeError(null, `more than ${limits.maxActions} actions`);
      rt.actions.push(a);
    },
    getVar(name) {
      const k = name.toLowerCase();
      if (k.startsWith('global.')) return rt.globals.get(k.slice(7)) ?? '';
      if (rt.globalNames.has(k)) return rt.globals.get(k) ?? '';
      return rt.vars.get(k) ?? '';
    },
    setVar(name, value) {
      if (!validVariableName(name, { requires: rt.requires, has: (e) => rt.requires.has(e), error: () => undefined })) throw new SieveRuntimeError(null, `invalid variable name "${name}"`);
      const k = name.toLowerCase();
      const v = value.length > MAX_VARIABLE_LENGTH ? value.slice(0, MAX_VARIABLE_LENGTH) : value;
      if (k.startsWith('global.')) rt.globals.set(k.slice(7), v);
      else if (rt.globalNames.has(k)) rt.globals.set(k, v);
      else rt.vars.set(k, v);
    },
    async include(name, location, once, optional, at) {
      const key = `${location}:${name}`;
      // RFC 6609 §3.2: with :once a script already included is not run again.
      if (once && included.has(key)) return undefined;
      // RFC 6609 §3.1: including a script that is being run (a loop) is an error.
      if (includeStack.includes(key) || key === `personal:${script.name}`) throw new SieveRuntimeError(at, `include loop: "${name}" includes itself`);
      if (++includes > limits.maxIncludes) throw new SieveRuntimeError(at, `more than ${limits.maxIncludes} includes`);
      if (includeStack.length >= limits.maxNesting) throw new SieveRuntimeError(at, 'includes nested too deep');
      let body = compiled.get(key);
      if (!body) {
        const text = await rt.wait(env.loadInclude(name, location));
        if (text === null) {
          // RFC 6609 §3.2: a missing script is an error unless :optional.
          if (optional) return undefined;
          throw new SieveRuntimeError(at, `included script "${name}" (${location}) does not exist`);
        }
        const c = compileInclude(text, name);
        if (typeof c === 'string') throw new SieveRuntimeError(at, `included script "${name}": ${c}`);
        body = c;
        compiled.set(key, body);
      }
      included.add(key);
      const saved = { requires: rt.requires, vars: rt.vars, globalNames: rt.globalNames, current, match: rt.match };
      includeStack.push(key);
      rt.requires = body.requires;
      rt.vars = new Map();
      rt.globalNames = new Set();
      rt.match = [];
      rt.includeDepth++;
      current = body;
      try {
        const f = await runBlock(body.tree, rt);
        // RFC 6609 §3.3: return ends the included script only; stop ends everything.
        return f === 'stop' ? 'stop' : undefined;
      } finally {
        includeStack.pop();
        rt.requires = saved.requires;
        rt.vars = saved.vars;
        rt.globalNames = saved.globalNames;
        rt.match = saved.match;
        rt.includeDepth--;
        current = saved.current;
      }
    },
  };

  try {
    await runBlock(script.tree, rt);
  } catch (err) {
    if (!(err instanceof SieveRuntimeError)) throw err;
    // RFC 5228 §2.10.6: a run-time error ends the script; the implicit keep is taken.
    rt.errors.push(where(err.at, current.name) + err.message);
    return { actions: [{ type: 'keep', flags: null }], editedRaw: null, errors: rt.errors };
  }
  const actions = rt.actions;
  // RFC 5228 §2.10.2: unless cancelled, the implicit keep files the message into INBOX
  // (RFC 5232 §3: with the flags of the internal variable).
  if (rt.implicitKeep && !actions.some((a) => a.type === 'keep')) actions.push({ type: 'keep', flags: currentFlags(null, rt) });
  if (!actions.some((a) => a.type === 'keep' || a.type === 'fileinto' || a.type === 'redirect' || a.type === 'reject')) actions.push({ type: 'discard' });
  let editedRaw: Buffer | null = null;
  if (rt.headersEdited) {
    const head = rt.headers.map((h) => `${h.name}:${h.raw}\r\n`).join('') + '\r\n';
    editedRaw = Buffer.concat([Buffer.from(head, headerEncoding === 'utf8' ? 'utf8' : 'latin1'), msg.raw.subarray(headerEnd)]);
  }
  return { actions, editedRaw, errors: rt.errors };
}
