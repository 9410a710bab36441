// The change feed (DESIGN.md "Store"): in-process publish/subscribe per account. The store
// publishes only after a change has committed, in commit order; a listener that throws does not
// stop the others (its error is logged).
import type { Logger } from '../log/logger.js';
import type { ChangeEvent, ChangeFeed } from './types.js';

export class InProcessChangeFeed implements ChangeFeed {
  private readonly listeners = new Map<number, Set<(event: ChangeEvent) => void>>();

  constructor(private readonly logger?: Logger) {}

  subscribe(accountId: number, listener: (event: ChangeEvent) => void): () => void {
    let set = this.listeners.get(accountId);
    if (!set) {
      set = new Set();
      this.listeners.set(accountId, set);
    }
    // Wrap so the same function may subscribe twice and unsubscribe each independently.
    const entry = (event: ChangeEvent): void => listener(event);
    set.add(entry);
    return () => {
      const s = this.listeners.get(accountId);
      if (!s) return;
      s.delete(entry);
      if (s.size === 0) this.listeners.delete(accountId);
    };
  }

  /** Delivers events, in order, to the subscribers of each event's account. */
  publish(events: readonly ChangeEvent[]): void {
    for (const event of events) {
      const set = this.listeners.get(event.accountId);
      if (!set) continue;
      for (const listener of [...set]) {
        try {
          listener(event);
        } catch (err) {
          this.logger?.error({ err, event: event.type, accountId: event.accountId }, 'change feed listener failed');
        }
      }
    }
  }
}
