// The ManageSieve command table: one module per command, looked up by name (case-insensitive).
import type { MsCommand } from './common.js';
import { authenticate } from './authenticate.js';
import { capability } from './capability.js';
import { checkscript } from './checkscript.js';
import { deletescript } from './deletescript.js';
import { getscript } from './getscript.js';
import { havespace } from './havespace.js';
import { listscripts } from './listscripts.js';
import { logout } from './logout.js';
import { noop } from './noop.js';
import { putscript } from './putscript.js';
import { renamescript } from './renamescript.js';
import { setactive } from './setactive.js';
import { starttls } from './starttls.js';
import { unauthenticate } from './unauthenticate.js';

export { MsError, type MsCommand, type MsConn, type MsState } from './common.js';
export { capabilityLines } from './capability.js';

export const COMMANDS: ReadonlyMap<string, MsCommand> = new Map(
  [capability, starttls, authenticate, logout, noop, unauthenticate, havespace, putscript, checkscript, listscripts, setactive, getscript, deletescript, renamescript].map((c) => [
    c.name,
    c,
  ]),
);
