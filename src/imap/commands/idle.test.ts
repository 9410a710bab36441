// IDLE (RFC 2177).
import { test } from 'node:test';
import { useImapContext, message } from '../../../test/helpers/imap-context.js';

const t = useImapContext();

test('IDLE sees another session\'s delivery, flag change and expunge', async () => {
  const a = await t.connect();
  const b = await t.connect();
  await a.login();
  await b.login();
  (await a.cmd('CREATE Shared')).ok();
  (await a.cmd('SELECT Shared')).ok();
  (await b.cmd('SELECT Shared')).ok();
  a.send('i1 IDLE\r\n');
  await a.pipe.waitFor('+ idling');
  const u = await b.append('Shared', message('Pushed'));
  await a.pipe.waitFor('* 1 EXISTS');
  (await b.cmd(`UID STORE ${u} +FLAGS (\\Flagged)`)).ok();
  await a.pipe.waitFor(`* 1 FETCH (UID ${u} FLAGS (\\Flagged \\Recent))`);
  (await b.cmd(`UID STORE ${u} +FLAGS.SILENT (\\Deleted)`)).ok();
  (await b.cmd('EXPUNGE')).ok().has('* 1 EXPUNGE');
  await a.pipe.waitFor('* 1 EXPUNGE');
  a.send('DONE\r\n');
  (await a.reply('i1')).ok();
});

test('IDLE: exact transcript; DONE in any case; anything else is BAD; the session goes on', async () => {
  const c = await t.connect();
  await c.login();
  const s = c.transcript();
  s.send('i1 IDLE');
  await s.expect(['+ idling']);
  s.send('done');
  await s.expect(['i1 OK IDLE terminated']);
  s.send('i2 IDLE');
  await s.expect(['+ idling']);
  s.send('i3 NOOP');
  await s.expect(['i2 BAD Expected DONE']);
  s.send('i4 IDLE');
  await s.expect(['+ idling']);
  s.send('x {3}');
  await s.expect(['i4 BAD Literal not expected here']);
  s.send('i5 NOOP');
  await s.expectTagged('i5', [], 'i5 OK NOOP completed');
  s.expectQuiet();
});

test('IDLE: a shutdown ends an idling session at once with BYE', async () => {
  const c = await t.connect();
  await c.login();
  const s = c.transcript();
  s.send('i1 IDLE');
  await s.expect(['+ idling']);
  await c.pipe.session!.shutdown!();
  await s.expect(['* BYE Server shutting down']);
  await s.expectClosed();
});
