// Metrics hooks that wrap what the server hands to the protocols, so no protocol file needs to
// know about metrics: session factories (connections per listener), the authenticator (auth
// outcomes) and the check pipeline (verdicts per stage).
import type { Authenticator } from '../auth/types.js';
import type { CheckPipeline } from '../checks/types.js';
import type { Session, SessionFactory } from '../net/transport.js';
import type { Metrics } from './metrics.js';

/** Counts a session open from its creation until closed() (once, however it ends). */
export function countSessions(listener: string, factory: SessionFactory, metrics: Metrics): SessionFactory {
  return (t) => {
    const s = factory(t);
    metrics.connectionOpened(listener);
    let open = true;
    const wrapped: Session = {
      start: () => s.start(),
      ingest: (chunk) => s.ingest(chunk),
      closed: () => {
        if (open) {
          open = false;
          metrics.connectionClosed(listener);
        }
        s.closed();
      },
      shutdown: () => s.shutdown(),
    };
    if (s.peerEnd) wrapped.peerEnd = () => s.peerEnd!();
    return wrapped;
  };
}

export function countAuth(auth: Authenticator, metrics: Metrics): Authenticator {
  return {
    async authenticate(attempt) {
      const r = await auth.authenticate(attempt);
      metrics.authResult(attempt.protocol, r.ok ? 'success' : r.reason === 'throttled' ? 'throttled' : 'failure');
      return r;
    },
  };
}

export function countVerdicts(checks: CheckPipeline, metrics: Metrics): CheckPipeline {
  const stages = ['connect', 'helo', 'mailFrom', 'rcptTo', 'data'] as const;
  const out = {} as CheckPipeline;
  for (const stage of stages) {
    const fn = checks[stage].bind(checks) as (...a: unknown[]) => ReturnType<CheckPipeline['connect']>;
    (out as unknown as Record<string, unknown>)[stage] = async (...args: unknown[]) => {
      const v = await fn(...args);
      metrics.checkVerdict(stage, v.action);
      return v;
    };
  }
  return out;
}
