// The mail endpoints a client should be told about (autoconfig, autodiscover, mobileconfig):
// the IMAP, POP3 and submission listeners really bound, implicit TLS preferred, each with the
// port it listens on. A listener with an empty list is not offered.
import type { ListenerName } from '../config/schema.js';

export type Security = 'tls' | 'starttls';

export interface Endpoint {
  protocol: 'imap' | 'pop3' | 'smtp';
  host: string;
  port: number;
  /** "tls": implicit TLS from the first byte; "starttls": upgraded after connecting. */
  security: Security;
}

/** Port of the first bound "ip:port" / "[ip]:port", or null. */
function portOf(bound: readonly string[] | undefined): number | null {
  const a = bound?.[0];
  if (!a) return null;
  const m = /:(\d+)$/.exec(a);
  return m ? Number(m[1]) : null;
}

// RFC 8314 §3: implicit TLS is preferred over STARTTLS for IMAP, POP3 and submission.
const PREFERENCE: ReadonlyArray<[Endpoint['protocol'], ListenerName, Security]> = [
  ['imap', 'imaps', 'tls'],
  ['imap', 'imap', 'starttls'],
  ['pop3', 'pop3s', 'tls'],
  ['pop3', 'pop3', 'starttls'],
  ['smtp', 'submissions', 'tls'],
  ['smtp', 'submission', 'starttls'],
];

/** Every offered endpoint, best first within each protocol. */
export function mailEndpoints(hostname: string, bound: Partial<Record<ListenerName, readonly string[]>>): Endpoint[] {
  const out: Endpoint[] = [];
  for (const [protocol, listener, security] of PREFERENCE) {
    const port = portOf(bound[listener]);
    if (port) out.push({ protocol, host: hostname, port, security });
  }
  return out;
}

/** The best endpoint of a protocol, or undefined when none listens. */
export function bestEndpoint(endpoints: readonly Endpoint[], protocol: Endpoint['protocol']): Endpoint | undefined {
  return endpoints.find((e) => e.protocol === protocol);
}
