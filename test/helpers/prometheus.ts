// A checker of the Prometheus text exposition format (version 0.0.4): every line is a HELP or
// TYPE comment, a sample "name{labels} value [timestamp]", or blank; TYPE precedes its samples.
// promtool (Debian package "prometheus") is used as well when it is installed.
import { spawnSync } from 'node:child_process';

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const VALUE = '(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]?Inf|NaN)';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(?:${LABEL}=${LABEL_VALUE}(?:,${LABEL}=${LABEL_VALUE})*,?)?\\})? ${VALUE}(?: -?\\d+)?$`);
const HELP = new RegExp(`^# HELP (${NAME}) .*$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

/** The problems found, one per bad line ([] = valid). */
export function checkExposition(text: string): string[] {
  const problems: string[] = [];
  const typed = new Map<string, string>();
  if (!text.endsWith('\n')) problems.push('the text does not end with a newline');
  text.split('\n').forEach((line, i) => {
    if (line === '') return;
    let m: RegExpExecArray | null;
    if ((m = TYPE.exec(line))) {
      if (typed.has(m[1]!)) problems.push(`line ${i + 1}: second TYPE for ${m[1]}`);
      typed.set(m[1]!, m[2]!);
    } else if (HELP.test(line)) {
      // HELP may come before TYPE
    } else if (line.startsWith('#')) {
      // other comments are allowed
    } else if ((m = SAMPLE.exec(line))) {
      const base = m[1]!.replace(/_(bucket|sum|count|total|created)$/, '');
      if (!typed.has(m[1]!) && !typed.has(base)) problems.push(`line ${i + 1}: sample of ${m[1]} without TYPE`);
    } else problems.push(`line ${i + 1}: not a valid line: ${JSON.stringify(line)}`);
  });
  return problems;
}

/** promtool's own check when it is installed (null = not installed). */
export function promtoolCheck(text: string): { ok: boolean; output: string } | null {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) return null;
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}
