// Sieve grammar (RFC 5228 §8.2) to an AST with line:column on every node.
//   commands = *command
//   command = identifier arguments (";" / block)
//   arguments = *argument [ test / test-list ]
//   argument = string-list / number / tag
//   test = identifier arguments
//   test-list = "(" test *("," test) ")"
import { tokenize, SieveSyntaxError, type Token } from './lexer.js';

export interface Pos {
  line: number;
  column: number;
}

export type Arg =
  | ({ kind: 'tag'; name: string } & Pos)
  | ({ kind: 'number'; value: number } & Pos)
  | ({ kind: 'string'; value: string; multiline: boolean } & Pos)
  | ({ kind: 'list'; values: string[] } & Pos);

export interface TestNode extends Pos {
  name: string;
  args: Arg[];
  tests: TestNode[];
  /** True when the tests were written as a parenthesised test-list. */
  testList: boolean;
}

export interface CommandNode extends Pos {
  name: string;
  args: Arg[];
  tests: TestNode[];
  testList: boolean;
  /** The block, or null when the command ended with ";". */
  block: CommandNode[] | null;
}

export interface ParseLimits {
  /** Deepest nesting of blocks and tests. */
  maxNesting: number;
}

export function parse(src: string, limits: ParseLimits): CommandNode[] {
  const toks = tokenize(src);
  let p = 0;
  const peek = (): Token => toks[p]!;
  const next = (): Token => toks[p++]!;
  const fail = (t: Token, msg: string): never => {
    throw new SieveSyntaxError(t.line, t.column, msg);
  };
  const describe = (t: Token): string => (t.kind === 'eof' ? 'end of script' : t.kind === 'string' ? 'string' : `"${t.kind === 'tag' ? ':' : ''}${t.text}"`);
  const isPunct = (t: Token, c: string): boolean => t.kind === 'punct' && t.text === c;

  function args(depth: number): { args: Arg[]; tests: TestNode[]; testList: boolean } {
    const out: Arg[] = [];
    for (;;) {
      const t = peek();
      if (t.kind === 'tag') { next(); out.push({ kind: 'tag', name: t.text, line: t.line, column: t.column }); continue; }
      if (t.kind === 'number') { next(); out.push({ kind: 'number', value: t.num!, line: t.line, column: t.column }); continue; }
      if (t.kind === 'string') { next(); out.push({ kind: 'string', value: t.text, multiline: !!t.multiline, line: t.line, column: t.column }); continue; }
      if (isPunct(t, '[')) {
        next();
        const values: string[] = [];
        for (;;) {
          const s = next();
          if (s.kind !== 'string') fail(s, `expected a string in the string list, found ${describe(s)}`);
          values.push(s.text);
          const sep = next();
          if (isPunct(sep, ']')) break;
          if (!isPunct(sep, ',')) fail(sep, `expected "," or "]" in the string list, found ${describe(sep)}`);
        }
        out.push({ kind: 'list', values, line: t.line, column: t.column });
        continue;
      }
      break;
    }
    const t = peek();
    if (t.kind === 'identifier') return { args: out, tests: [test(depth + 1)], testList: false };
    if (isPunct(t, '(')) {
      next();
      const tests: TestNode[] = [];
      for (;;) {
        tests.push(test(depth + 1));
        const sep = next();
        if (isPunct(sep, ')')) break;
        if (!isPunct(sep, ',')) fail(sep, `expected "," or ")" in the test list, found ${describe(sep)}`);
      }
      return { args: out, tests, testList: true };
    }
    return { args: out, tests: [], testList: false };
  }

  function test(depth: number): TestNode {
    const t = next();
    if (depth > limits.maxNesting) fail(t, `nesting deeper than ${limits.maxNesting}`);
    if (t.kind !== 'identifier') fail(t, `expected a test, found ${describe(t)}`);
    const a = args(depth);
    return { name: t.text, ...a, line: t.line, column: t.column };
  }

  function commands(depth: number, inBlock: boolean): CommandNode[] {
    const out: CommandNode[] = [];
    for (;;) {
      const t = peek();
      if (t.kind === 'eof') {
        if (inBlock) fail(t, 'missing "}"');
        return out;
      }
      if (isPunct(t, '}')) {
        if (!inBlock) fail(t, 'unexpected "}"');
        return out;
      }
      next();
      if (t.kind !== 'identifier') fail(t, `expected a command, found ${describe(t)}`);
      if (depth > limits.maxNesting) fail(t, `nesting deeper than ${limits.maxNesting}`);
      const a = args(depth);
      const end = next();
      let block: CommandNode[] | null = null;
      if (isPunct(end, '{')) {
        block = commands(depth + 1, true);
        next(); // "}"
      } else if (!isPunct(end, ';')) {
        fail(end, `expected ";" or "{" after ${t.text}, found ${describe(end)}`);
      }
      out.push({ name: t.text, ...a, block, line: t.line, column: t.column });
    }
  }

  return commands(1, false);
}
