// Check verdicts (DESIGN.md "Checks pipeline") turned into SMTP replies at each stage.
import type { CheckVerdict } from '../../pipeline/types.js';
import { SmtpError } from './errors.js';

/** Throws the reply for a reject or tempfail verdict (the check's own reply when it gave a fitting one). */
export function enforceVerdict(v: CheckVerdict, stage: { reject: number; tempfail: number; text: string }): void {
  if (v.action !== 'reject' && v.action !== 'tempfail') return;
  const temp = v.action === 'tempfail';
  const r = v.reply;
  const fits = r && Math.floor(r.code / 100) === (temp ? 4 : 5);
  if (fits) throw new SmtpError(r.code, r.enhanced, r.text);
  throw new SmtpError(temp ? stage.tempfail : stage.reject, temp ? '4.7.1' : '5.7.1', r?.text ?? (temp ? 'Try again later' : stage.text));
}
