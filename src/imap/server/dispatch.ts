// The command table (mox/Dovecot style): command name -> descriptor with the states it is
// allowed in, its flags (UID prefix, sequence numbers: no EXPUNGE while it is answered, RFC 9051
// §7.5.1; writes: refused after EXAMINE), its pure parse step and its run step.
import type { CommandDescriptor } from './conn.js';
import { capability, enable, id, logout, namespace, noop } from '../commands/any.js';
import { authenticate, login, starttls } from '../commands/auth.js';
import { create, deleteCmd, examine, list, lsub, rename, selectCmd, status, subscribe, unsubscribe } from '../commands/mailbox.js';
import { check, close, expunge, unselect } from '../commands/selected.js';
import { fetch, store } from '../commands/fetch.js';
import { cancelUpdate, search } from '../commands/search.js';
import { sort } from '../commands/sort.js';
import { thread } from '../commands/thread.js';
import { copy, move } from '../commands/copy.js';
import { append, replace } from '../commands/append.js';
import { compress } from '../commands/compress.js';
import { idle } from '../commands/idle.js';
import { getquota, getquotaroot, setquota } from '../commands/quota.js';
import { getmetadata, setmetadata } from '../commands/metadata.js';
import { notify } from '../commands/notify.js';

// Each descriptor's parse() and run() agree on its own argument type; the table forgets it.
const all = [
  capability, noop, logout, id, starttls, login, authenticate, enable, namespace,
  selectCmd, examine, create, deleteCmd, rename, subscribe, unsubscribe, list, lsub, status, append, idle,
  check, close, unselect, expunge, search, sort, thread, fetch, store, copy, move, getquota, getquotaroot, setquota,
  replace, compress, getmetadata, setmetadata, notify, cancelUpdate,
] as unknown as CommandDescriptor[];

export const COMMANDS: ReadonlyMap<string, CommandDescriptor> = new Map(all.map((c) => [c.name, c]));
