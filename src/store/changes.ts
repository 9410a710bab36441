// The change feed (DESIGN.md "Store"): in-process publish/subscribe per account, and observers of
// every account (ChangeFeed.observe). The store publishes only after a change has committed, in
// commit order; a listener that throws (or an observer that rejects) does not stop the others
// (its error is logged).
import type { Logger } from '../log/logger.js';
import type { ChangeEvent, ChangeFeed } from './types.js';

type Observer = (event: ChangeEvent) => void | Promise<void>;

export class InProcessChangeFeed implements ChangeFeed {
  private readonly listeners = new Map<number, Set<(event: ChangeEvent) => void>>();
  private readonly observers = new Set<Observer>();
  /** Observers' promises not yet settled (see settled()). */
  private readonly running = new Set<Promise<void>>();

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

  observe(listener: Observer): () => void {
    const entry: Observer = (event) => listener(event);
    this.observers.add(entry);
    return () => {
      this.observers.delete(entry);
    };
  }

  /** Delivers events, in order, to the subscribers of each event's account and to every observer. */
  publish(events: readonly ChangeEvent[]): void {
    for (const event of events) {
      const set = this.listeners.get(event.accountId);
      for (const listener of set ? [...set] : []) {
        try {
          listener(event);
        } catch (err) {
          this.failed(err, event);
        }
      }
      for (const observer of [...this.observers]) {
        try {
          const p = observer(event);
          if (p) this.track(p, event);
        } catch (err) {
          this.failed(err, event);
        }
      }
    }
  }

  /** Resolves when every observer promise started so far has settled (never rejects). */
  async settled(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running]);
  }

  private track(p: Promise<void>, event: ChangeEvent): void {
    const tracked = p.then(
      () => undefined,
      (err: unknown) => this.failed(err, event),
    );
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));
  }

  private failed(err: unknown, event: ChangeEvent): void {
    this.logger?.error({ err, event: event.type, accountId: event.accountId }, 'change feed listener failed');
  }
}
