// CREATE-SPECIAL-USE (RFC 6154 §3): CREATE name (USE (attr)), the attribute listed by LIST
// afterwards, USEATTR for what cannot be given, and the capability advertised.
import { test } from 'node:test';
import { useImapContext } from '../../../test/helpers/imap-context.js';

const t = useImapContext();

test('CREATE (USE (\\Archive)): advertised, listed, refused for unknown and virtual uses', async () => {
  const c = await t.connect();
  await c.login();
  (await c.cmd('CAPABILITY')).ok().has(/ CREATE-SPECIAL-USE[ \r]/);
  (await c.cmd('CREATE Old/2025 (USE (\\Archive))')).ok();
  (await c.cmd('LIST "" Old/2025')).ok().has('* LIST (\\HasNoChildren \\Archive) "/" Old/2025');
  (await c.cmd('LIST (SPECIAL-USE) "" Old*')).ok().has('"/" Old/2025').lacks('"/" Old\r\n');
  (await c.cmd('CREATE Plain (USE ())')).ok();
  (await c.cmd('LIST "" Plain')).ok().has('* LIST (\\HasNoChildren) "/" Plain');
  // RFC 6154 §3: NO [USEATTR], and the mailbox is not created
  for (const use of ['\\Bogus', '\\All', '\\Flagged', '\\Sent \\Trash']) {
    (await c.cmd(`CREATE Nope (USE (${use}))`)).no('USEATTR');
  }
  (await c.cmd('LIST "" Nope')).ok().lacks('* LIST');
});
