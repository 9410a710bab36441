// The command table (mox/Dovecot style): command name -> descriptor with the states it is
// allowed in, whether it takes the UID prefix, and whether its non-UID form uses sequence
// numbers (then no EXPUNGE is sent while it is answered, RFC 9051 §7.5.1).
import type { CommandDescriptor } from './conn.js';
import { capability, enable, id, logout, namespace, noop } from '../commands/any.js';
import { authenticate, login, starttls } from '../commands/auth.js';
import { create, deleteCmd, examine, list, lsub, rename, selectCmd, status, subscribe, unsubscribe } from '../commands/mailbox.js';
import { check, close, expunge, unselect } from '../commands/selected.js';
import { fetch, store } from '../commands/fetch.js';
import { search } from '../commands/search.js';
import { copy, move } from '../commands/copy.js';
import { append } from '../commands/append.js';
import { idle } from '../commands/idle.js';
import { getquota, getquotaroot, setquota } from '../commands/quota.js';

export const COMMANDS: ReadonlyMap<string, CommandDescriptor> = new Map<string, CommandDescriptor>([
  ['CAPABILITY', capability],
  ['NOOP', noop],
  ['LOGOUT', logout],
  ['ID', id],
  ['STARTTLS', starttls],
  ['LOGIN', login],
  ['AUTHENTICATE', authenticate],
  ['ENABLE', enable],
  ['NAMESPACE', namespace],
  ['SELECT', selectCmd],
  ['EXAMINE', examine],
  ['CREATE', create],
  ['DELETE', deleteCmd],
  ['RENAME', rename],
  ['SUBSCRIBE', subscribe],
  ['UNSUBSCRIBE', unsubscribe],
  ['LIST', list],
  ['LSUB', lsub],
  ['STATUS', status],
  ['APPEND', append],
  ['IDLE', idle],
  ['CHECK', check],
  ['CLOSE', close],
  ['UNSELECT', unselect],
  ['EXPUNGE', expunge],
  ['SEARCH', search],
  ['FETCH', fetch],
  ['STORE', store],
  ['COPY', copy],
  ['MOVE', move],
  ['GETQUOTA', getquota],
  ['GETQUOTAROOT', getquotaroot],
  ['SETQUOTA', setquota],
]);
