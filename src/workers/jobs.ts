// The jobs a worker thread runs (src/workers/worker.ts): plain data in, plain data out, so that
// they cross the message port by structured clone. Each is the CPU-heavy step of a check; the
// same functions run on the main thread when there is no pool (CLI, unit tests).
import type { DNSResolver } from 'mailauth';
import { verifyMessage, type VerifyInput } from '../checks/spf-dkim-dmarc.js';
import { dkimSignatures, type SignatureSpec } from '../checks/dkim-sign.js';
import { sealHeaders, type SealSpec } from '../forward/arc-seal.js';

export interface JobContext {
  /** DNS for mailauth: in a worker, each query is answered by the main thread's resolver. */
  resolver: DNSResolver;
}

/** A message sent to a worker arrives as a Uint8Array; mailauth wants a Buffer (no copy). */
function asBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export const jobs = {
  /** DKIM, ARC and DMARC verification of a stored message (RFC 6376, RFC 8617, RFC 7489). */
  authenticate: (input: VerifyInput, ctx: JobContext) => verifyMessage(input, ctx.resolver),
  /** DKIM-Signature fields for an outgoing message (RFC 6376). */
  dkimSign: (input: { message: Uint8Array; specs: SignatureSpec[]; signTime?: Date }) => dkimSignatures(asBuffer(input.message), input.specs, { signTime: input.signTime }),
  /** ARC set for a forwarded message (RFC 8617). */
  arcSeal: (input: { message: Uint8Array; seal: SealSpec }) => sealHeaders(asBuffer(input.message), input.seal),
} satisfies Record<string, (input: never, ctx: JobContext) => Promise<unknown>>;

export type Jobs = typeof jobs;
export type JobKind = keyof Jobs;
export type JobInput<K extends JobKind> = Parameters<Jobs[K]>[0];
export type JobOutput<K extends JobKind> = Awaited<ReturnType<Jobs[K]>>;
