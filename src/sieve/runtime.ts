// Types shared by the validator, the interpreter and the extension files: the validated script
// tree, the signature of each command and test, and the run-time state a command works on.
import type { Pos } from './parser.js';
import type { SieveAction, SieveEnv, SieveLimits, SieveMessage } from './types.js';
import type { MessageStructure } from '../message/types.js';

export type ArgType = 'string' | 'list' | 'number';
export type Value = string | string[] | number;

export interface TagSpec {
  /** The tag takes one argument of this type. */
  arg?: ArgType;
  /** Tags of one group exclude each other (match type, address part, comparator...). */
  group?: string;
  /** Capability the tag needs (any of). */
  ext?: string | readonly string[];
}

/** A command or test after validation: tags by name, positional arguments, tests, block. */
export interface VNode extends Pos {
  name: string;
  tags: Map<string, { value: Value | true } & Pos>;
  pos: Value[];
  tests: VNode[];
  block: VNode[] | null;
  /** Filled by checks that precompute (e.g. a compiled :regex key, resolved comparator). */
  data: Record<string, unknown>;
}

export interface ValidateCtx {
  requires: ReadonlySet<string>;
  error(at: Pos, message: string): void;
  has(ext: string): boolean;
}

export interface Signature {
  /** Capability the command or test needs (any of); undefined: base language. */
  ext?: string | readonly string[];
  tags?: Record<string, TagSpec>;
  pos: ArgType[];
  /** How many of the trailing positional arguments may be left out. */
  optional?: number;
  /** Commands: "one" for if/elsif, else none. Tests: "one" for not, "list" for allof/anyof. */
  tests?: 'none' | 'one' | 'list';
  /** Commands only: whether a block follows. */
  block?: boolean;
  check?(node: VNode, ctx: ValidateCtx): void;
}

export type Flow = void | 'stop' | 'return';

export interface CommandDef extends Signature {
  run(node: VNode, rt: Runtime): Flow | Promise<Flow>;
}

export interface TestDef extends Signature {
  test(node: VNode, rt: Runtime): boolean | Promise<boolean>;
}

export interface ExtensionDef {
  /** Capability names this file provides (what `require` accepts). */
  capabilities: readonly string[];
  commands?: Record<string, CommandDef>;
  tests?: Record<string, TestDef>;
}

/** A header field as the script sees it (editheader changes it). */
export interface RtHeader {
  name: string;
  /** Raw value as in the message, unfolded form not applied (folding CRLFs kept). */
  raw: string;
}

/** The state of one script run, shared by every script of an include chain. */
export interface Runtime {
  readonly msg: SieveMessage;
  readonly env: SieveEnv;
  readonly limits: SieveLimits;
  readonly structure: MessageStructure;
  /** The message's header fields in order; editheader edits this list. */
  headers: RtHeader[];
  headersEdited: boolean;
  actions: SieveAction[];
  implicitKeep: boolean;
  /** An explicit discard ran (RFC 5228 §4.4). */
  discarded: boolean;
  /** RFC 5232 §3: the internal variable holding the current flags. */
  flags: string[];
  /** Match variables ${0}..${9} (RFC 5229 §3.2). */
  match: string[];
  /** Capabilities required by the script running now. */
  requires: ReadonlySet<string>;
  /** Variables of the running script (lower-case names). */
  vars: Map<string, string>;
  /** RFC 6609 §3.4.1: variables declared global, shared by all scripts of the run. */
  globals: Map<string, string>;
  /** Names the running script declared global. */
  globalNames: Set<string>;
  errors: string[];
  /** Waits for an environment call; its time does not count against the CPU budget. */
  wait<T>(p: Promise<T>): Promise<T>;
  /** Counts a step and throws when the run is over its CPU time or step budget. */
  step(): void;
  /** A string argument with variables expanded (when the script requires "variables"). */
  str(s: string): string;
  list(l: string[] | string): string[];
  /** Adds an action (enforcing the action limit). */
  addAction(a: SieveAction): void;
  /** Includes and runs another script (RFC 6609). */
  include(name: string, location: 'personal' | 'global', once: boolean, optional: boolean, at: Pos): Promise<Flow>;
  /** Whether a test is in the include stack (used for the depth limit). */
  includeDepth: number;
  /** Variable lookup by name, global namespace included. */
  getVar(name: string): string;
  setVar(name: string, value: string): void;
}

export class SieveRuntimeError extends Error {
  constructor(
    readonly at: Pos | null,
    message: string,
  ) {
    super(message);
  }
}

export function tagValue(node: VNode, tag: string): Value | true | undefined {
  return node.tags.get(tag)?.value;
}

export function tagString(node: VNode, tag: string): string | undefined {
  const v = node.tags.get(tag)?.value;
  return typeof v === 'string' ? v : undefined;
}

export function tagNumber(node: VNode, tag: string): number | undefined {
  const v = node.tags.get(tag)?.value;
  return typeof v === 'number' ? v : undefined;
}

export function asList(v: Value | true | undefined): string[] {
  if (Array.isArray(v)) return v;
  if (typeof v === 'string') return [v];
  return [];
}
