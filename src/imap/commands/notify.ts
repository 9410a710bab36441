// NOTIFY (RFC 5465): the client names the mailboxes it cares about (event groups) and the events
// it wants from each, and the server reports them as they happen, also between commands:
// for the selected mailbox the usual EXISTS / EXPUNGE / FETCH (pushed at once, not only at the end
// of the next command; with MessageNew's fetch attributes a FETCH of each new message), for other
// mailboxes STATUS, LIST and METADATA responses. The events come from the store's change feed
// (the session's subscription, server/session.ts onChange). A client that does not read its
// notifications is sent NOTIFICATIONOVERFLOW and NOTIFY is off (RFC 5465 §5.8).
import { defineCommand, type ImapConn, type ParseContext } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import { decodeMailboxName } from '../server/names.js';
import { parseFetchItems, runFetch, type FetchItem } from '../fetch.js';
import type { ArgReader, Token } from '../wire/tokenizer.js';
import type { ChangeEvent, Mailbox } from '../../store/types.js';

const AUTHED = ['auth', 'selected'] as const;

/** RFC 5465 §5, §8: the events Yubin reports (AnnotationChange needs the ANNOTATE extension, not offered). */
export const NOTIFY_EVENTS = ['MessageNew', 'MessageExpunge', 'FlagChange', 'MailboxName', 'SubscriptionChange', 'MailboxMetadataChange', 'ServerMetadataChange'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export type NotifyFilter =
  | { kind: 'selected' | 'selected-delayed' | 'inboxes' | 'personal' | 'subscribed' }
  | { kind: 'subtree' | 'mailboxes'; names: string[] };

export interface EventGroup {
  filter: NotifyFilter;
  events: Set<NotifyEvent>;
  /** MessageNew's fetch attributes (selected mailbox only, RFC 5465 §5.1). */
  fetch: FetchItem[] | null;
}

export type NotifyArgs = { set: false } | { set: true; status: boolean; groups: EventGroup[] };

const EVENT_BY_UPPER = new Map(NOTIFY_EVENTS.map((e) => [e.toUpperCase(), e]));

function badEvent(): never {
  // RFC 5465 §5, §8: an event the server does not support: NO [BADEVENT (supported events)]
  throw new ImapError('NO', `BADEVENT (${NOTIFY_EVENTS.join(' ')})`, 'Event not supported');
}

function mailboxToken(t: Token | undefined, ctx: ParseContext, bad: (m: string) => never): string {
  if (t?.t === 'atom') return decodeMailboxName(Buffer.from(t.v, 'utf8'), ctx.utf8);
  if (t?.t === 'string') return decodeMailboxName(t.v, ctx.utf8);
  return bad('Expected a mailbox name');
}

/**
 * RFC 5465 §8:
 *   notify = "NOTIFY" SP (notify-set / notify-none)
 *   notify-set = "SET" [status-indicator] SP event-groups
 *   status-indicator = SP "STATUS"
 *   event-group = "(" filter-mailboxes SP events ")"
 *   filter-mailboxes = "selected" / "selected-delayed" / "inboxes" / "personal" / "subscribed" /
 *                      ("subtree" SP one-or-more-mailbox) / ("mailboxes" SP one-or-more-mailbox)
 *   events = ( "(" event *(SP event) ")" ) / "NONE"
 *   message-event = ("MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"]) / "MessageExpunge" / "FlagChange" / "AnnotationChange"
 */
export function parseNotify(args: ArgReader, ctx: ParseContext): NotifyArgs {
  const bad = (m: string): never => args.bad(m);
  const verb = args.atom().toUpperCase();
  if (verb === 'NONE') {
    args.end();
    return { set: false };
  }
  if (verb !== 'SET') bad('NOTIFY SET or NOTIFY NONE');
  let status = false;
  if (args.peekAtom() === 'STATUS') {
    args.next();
    status = true;
  }
  if (args.done) bad('NOTIFY SET needs event groups');
  const groups: EventGroup[] = [];
  let unsupported = false;
  const kinds = new Set<string>();
  while (!args.done) {
    const g = args.list();
    const kind = g[0]?.t === 'atom' ? g[0].v.toLowerCase() : '';
    let i = 1;
    let filter: NotifyFilter;
    if (kind === 'selected' || kind === 'selected-delayed' || kind === 'inboxes' || kind === 'personal' || kind === 'subscribed') filter = { kind };
    else if (kind === 'subtree' || kind === 'mailboxes') {
      const m = g[i++];
      const names = m?.t === 'list' ? m.items.map((x) => mailboxToken(x, ctx, bad)) : [mailboxToken(m, ctx, bad)];
      if (!names.length) bad('Expected one or more mailboxes');
      filter = { kind, names };
    } else return bad('Unknown mailbox filter');
    // RFC 5465 §6.1: selected and selected-delayed are one filter: at most one of them, once
    const key = kind === 'selected-delayed' ? 'selected' : kind;
    if (kind !== 'subtree' && kind !== 'mailboxes' && kinds.has(key)) bad(`${kind} given twice`);
    kinds.add(key);
    const ev = g[i++];
    if (!ev || i !== g.length) bad('An event group is (filter events)');
    const events = new Set<NotifyEvent>();
    let fetch: FetchItem[] | null = null;
    if (ev.t === 'atom' && ev.v.toUpperCase() === 'NONE') {
      // no events for these mailboxes
    } else if (ev.t === 'list') {
      if (!ev.items.length) bad('Empty event list');
      for (let j = 0; j < ev.items.length; j++) {
        const e = ev.items[j]!;
        if (e.t !== 'atom') return bad('Expected an event name');
        const name = EVENT_BY_UPPER.get(e.v.toUpperCase());
        if (!name) {
          unsupported = true;
          continue;
        }
        events.add(name);
        const next = ev.items[j + 1];
        if (name === 'MessageNew' && next?.t === 'list') {
          // RFC 5465 §5.1: fetch attributes only for the selected mailbox
          if (key !== 'selected') bad('MessageNew fetch attributes are for the selected mailbox only');
          fetch = parseFetchItems(next.items, bad, false);
          j++;
        }
      }
    } else bad('Expected an event list or NONE');
    // RFC 5465 §5: MessageNew and MessageExpunge go together; FlagChange needs both
    if (events.has('MessageNew') !== events.has('MessageExpunge')) bad('MessageNew and MessageExpunge must be given together');
    if (events.has('FlagChange') && !events.has('MessageNew')) bad('FlagChange needs MessageNew and MessageExpunge');
    groups.push({ filter, events, fetch });
  }
  if (unsupported) badEvent();
  return { set: true, status, groups };
}

/** Notifications queued past this while the client does not read: NOTIFICATIONOVERFLOW (RFC 5465 §5.8). */
export class NotifyState {
  static maxPending = 1000;
  private pending: ChangeEvent[] = [];
  private running = false;
  private stopped = false;

  constructor(
    private readonly conn: ImapConn,
    readonly groups: readonly EventGroup[],
  ) {}

  /** The selected mailbox's group (selected or selected-delayed), if any. */
  get selectedGroup(): EventGroup | undefined {
    return this.groups.find((g) => g.filter.kind === 'selected' || g.filter.kind === 'selected-delayed');
  }

  /** Whether changes of the selected mailbox are pushed between commands, and EXPUNGE with them (not selected-delayed). */
  pushSelected(): { push: boolean; expunge: boolean } {
    const g = this.selectedGroup;
    if (!g || !g.events.has('MessageNew')) return { push: false, expunge: false };
    return { push: true, expunge: g.filter.kind === 'selected' };
  }

  stop(): void {
    this.stopped = true;
    this.pending = [];
  }

  /** A change of the account (the session's change-feed subscription). */
  onEvent(ev: ChangeEvent): void {
    if (this.stopped || !this.wanted(ev)) return;
    this.pending.push(ev);
    if (this.pending.length > NotifyState.maxPending) {
      // RFC 5465 §5.8: events were lost; the client must resynchronise; NOTIFY is now NONE
      this.stop();
      if (this.conn.notify === this) this.conn.notify = null;
      this.conn.send('* OK [NOTIFICATIONOVERFLOW] Too many notifications pending; NOTIFY is off');
      return;
    }
    this.kick();
  }

  /** Sends what is pending when the session may (no command running, or idling). */
  kick(): void {
    if (this.running || this.stopped || !this.pending.length || !this.conn.canPush()) return;
    this.running = true;
    void this.drain()
      .catch((e) => this.conn.log.error({ err: e }, 'notify failed'))
      .finally(() => {
        this.running = false;
        this.kick();
      });
  }

  private async drain(): Promise<void> {
    while (this.pending.length && !this.stopped) {
      const batch = this.pending.splice(0);
      const out = await this.render(batch);
      // Waits while the client does not read: further events queue meanwhile (overflow above)
      if (out.length && !this.stopped) await this.conn.writeAndDrain(out.map((l) => l + '\r\n').join(''));
    }
  }

  /** Quick filter by event kind (mailboxes are matched when rendering). */
  private wanted(ev: ChangeEvent): boolean {
    const any = (e: NotifyEvent): boolean => this.groups.some((g) => g.events.has(e) && g.filter.kind !== 'selected' && g.filter.kind !== 'selected-delayed');
    switch (ev.type) {
      case 'message-added':
      case 'messages-expunged':
        return any('MessageNew');
      case 'flags-changed':
        return any('FlagChange');
      case 'mailbox-created':
      case 'mailbox-deleted':
      case 'mailbox-renamed':
        return this.groups.some((g) => g.events.has('MailboxName'));
      case 'mailbox-subscription':
        return this.groups.some((g) => g.events.has('SubscriptionChange'));
      case 'metadata-changed':
        return this.groups.some((g) => g.events.has(ev.target === null ? 'ServerMetadataChange' : 'MailboxMetadataChange'));
      default:
        return false;
    }
  }

  /** RFC 5465 §6: the first group whose mailboxes include this one (the selected mailbox: its own group). */
  groupFor(mb: { id: number; name: string; subscribed: boolean }): EventGroup | undefined {
    const selected = this.conn.selected?.mailboxId === mb.id;
    for (const g of this.groups) {
      const f = g.filter;
      switch (f.kind) {
        case 'selected':
        case 'selected-delayed':
          if (selected) return g;
          break;
        // RFC 5465 §6.3: a server that cannot tell where mail is delivered treats inboxes as
        // personal (Sieve may file into any mailbox)
        case 'inboxes':
        case 'personal':
          return g;
        case 'subscribed':
          if (mb.subscribed) return g;
          break;
        case 'subtree':
          if (f.names.some((n) => mb.name === n || mb.name.startsWith(n + '/'))) return g;
          break;
        case 'mailboxes':
          if (f.names.includes(mb.name)) return g;
          break;
      }
    }
    return undefined;
  }

  private async render(batch: ChangeEvent[]): Promise<string[]> {
    const store = this.conn.ctx.store;
    const out: string[] = [];
    const statusFor = new Set<number>();
    const boxes = new Map<number, Mailbox | null>();
    const box = async (id: number): Promise<Mailbox | null> => {
      if (!boxes.has(id)) boxes.set(id, await store.getMailboxById(id));
      return boxes.get(id)!;
    };
    const flushStatus = async (): Promise<void> => {
      for (const id of statusFor) {
        const mb = await box(id);
        if (mb) out.push(await statusResponse(this.conn, mb));
      }
      statusFor.clear();
    };
    for (const ev of batch) {
      if (ev.type === 'message-added' || ev.type === 'messages-expunged' || ev.type === 'flags-changed') {
        // The selected mailbox reports its own changes (EXISTS, EXPUNGE, FETCH)
        if (this.conn.selected?.mailboxId === ev.mailboxId) continue;
        const mb = await box(ev.mailboxId);
        if (!mb) continue;
        const g = this.groupFor(mb);
        const want: NotifyEvent = ev.type === 'flags-changed' ? 'FlagChange' : 'MessageNew';
        // RFC 5465 §5.1, §5.2, §5.3: a mailbox not selected gets a STATUS response
        if (g && g.events.has(want)) statusFor.add(mb.id);
        continue;
      }
      await flushStatus();
      if (ev.type === 'mailbox-created' || ev.type === 'mailbox-renamed') {
        const mb = await box(ev.mailboxId);
        const g = this.groupFor(mb ?? { id: ev.mailboxId, name: ev.name, subscribed: false });
        if (!g?.events.has('MailboxName')) continue;
        // RFC 5465 §5.4: a new name is a LIST response; a renamed mailbox carries its OLDNAME
        const old = ev.type === 'mailbox-renamed' ? ` ("OLDNAME" (${this.conn.mailboxOut(ev.oldName)}))` : '';
        out.push(`* LIST (${mb?.subscribed ? '\\Subscribed' : ''}) "/" ${this.conn.mailboxOut(ev.name)}${old}`);
      } else if (ev.type === 'mailbox-deleted') {
        const g = this.groupFor({ id: ev.mailboxId, name: ev.name, subscribed: false });
        // RFC 5465 §5.4: a deleted mailbox is a LIST response with \NonExistent
        if (g?.events.has('MailboxName')) out.push(`* LIST (\\NonExistent) "/" ${this.conn.mailboxOut(ev.name)}`);
      } else if (ev.type === 'mailbox-subscription') {
        const mb = await box(ev.mailboxId);
        if (!mb) continue;
        // RFC 5465 §5.5: a LIST response with or without \Subscribed
        if (this.groupFor(mb)?.events.has('SubscriptionChange')) out.push(`* LIST (${ev.subscribed ? '\\Subscribed' : ''}) "/" ${this.conn.mailboxOut(mb.name)}`);
      } else if (ev.type === 'metadata-changed') {
        // RFC 5465 §5.6, §5.7; RFC 5464 §4.4.2: unsolicited METADATA with the entry names
        if (ev.target === null) {
          if (this.groups.some((g) => g.events.has('ServerMetadataChange'))) out.push(`* METADATA "" ${ev.names.join(' ')}`);
          continue;
        }
        const mb = await box(ev.target);
        if (mb && this.groupFor(mb)?.events.has('MailboxMetadataChange')) out.push(`* METADATA ${this.conn.mailboxOut(mb.name)} ${ev.names.join(' ')}`);
      }
    }
    await flushStatus();
    return out;
  }

  /** RFC 5465 §5.1: after new messages of the selected mailbox were announced, MessageNew's fetch attributes for them. */
  async fetchNew(uids: number[]): Promise<void> {
    const g = this.selectedGroup;
    const view = this.conn.selected;
    if (!g?.fetch || !view || !uids.length || this.stopped) return;
    await runFetch(this.conn, view, uids, g.fetch, true);
  }

  /** RFC 5465 §3.1 (SET STATUS): a STATUS response now for every mailbox whose new and expunged messages are reported. */
  async initialStatus(): Promise<string[]> {
    const out: string[] = [];
    for (const mb of await this.conn.ctx.store.listMailboxes(this.conn.account!.id)) {
      if (this.conn.selected?.mailboxId === mb.id) continue;
      if (this.groupFor(mb)?.events.has('MessageNew')) out.push(await statusResponse(this.conn, mb));
    }
    return out;
  }
}

/** The STATUS of a mailbox not selected: MESSAGES, UIDNEXT, UIDVALIDITY, UNSEEN, and HIGHESTMODSEQ with CONDSTORE (RFC 5465 §5.2, §5.3). */
async function statusResponse(conn: ImapConn, mb: Mailbox): Promise<string> {
  const st = await conn.ctx.store.mailboxStatus(mb.id);
  const items = [`MESSAGES ${st.messages}`, `UIDNEXT ${st.uidNext}`, `UIDVALIDITY ${st.uidValidity}`, `UNSEEN ${st.unseen}`];
  if (conn.condstore) items.push(`HIGHESTMODSEQ ${st.highestModSeq}`);
  return `* STATUS ${conn.mailboxOut(mb.name)} (${items.join(' ')})`;
}

export const notify = defineCommand({
  name: 'NOTIFY',
  states: AUTHED,
  parse: parseNotify,
  async run(conn, a) {
    conn.notify?.stop();
    conn.notify = null;
    if (!a.set) return;
    const state = new NotifyState(conn, a.groups);
    conn.notify = state;
    if (a.status) for (const line of await state.initialStatus()) conn.send(line);
  },
});
