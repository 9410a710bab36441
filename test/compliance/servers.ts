// The servers the compliance scripts and the stress run talk to: `yubin serve` started as a user
// starts it, and Debian's Dovecot (dovecot-imapd) as the reference, a throwaway instance with a
// temporary config and maildir on a free loopback port (as bench/imap.ts starts it).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '../../bench/common.js';
import { startYubin } from '../helpers/server.js';
import { dovecotConfigHead } from '../helpers/dovecot.js';
import type { Target } from './runner.js';
import { until } from '../helpers/until.js';

export interface RunningServer {
  target: Target;
  stop(): Promise<void>;
}

const USER = 'alice@a.test';
const PASS = 'compliance-pw';

export async function startYubinServer(): Promise<RunningServer> {
  const y = await startYubin({
    domains: ['a.test'],
    users: [{ address: USER, password: PASS }],
    config: { auth: { allow_plaintext: true, throttle_free_failures: 1_000_000, throttle_max_failures: 1_000_000 } },
  });
  return { target: { name: 'yubin', port: y.port('imap'), user: USER, pass: PASS }, stop: () => y.destroy() };
}

/** Null (with the reason) when dovecot-imapd is not installed. */
export async function startDovecotServer(): Promise<RunningServer | string> {
  const dovecot = ['/usr/sbin/dovecot', '/usr/bin/dovecot'].find((p) => existsSync(p));
  if (!dovecot || !existsSync('/usr/lib/dovecot/imap')) return 'dovecot-imapd is not installed';
  const dir = mkdtempSync(join(tmpdir(), 'yubin-dovecot-'));
  chmodSync(dir, 0o755);
  const home = join(dir, 'home');
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(home, 'Maildir', sub), { recursive: true });
  spawnSync('chown', ['-R', 'nobody:nogroup', home]);
  const port = await freePort();
  const conf = join(dir, 'dovecot.conf');
  writeFileSync(
    conf,
    `${dovecotConfigHead({ dir, protocols: 'imap', home, password: PASS, mailLocation: 'maildir:~/Maildir:LAYOUT=fs' })}mailbox_idle_check_interval = 1 secs
mail_plugins = quota
imap_metadata = yes
mail_attribute_dict = file:%h/dovecot-attributes
auth_mechanisms = plain login
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    auto = create
    special_use = \\Sent
  }
  mailbox Drafts {
    special_use = \\Drafts
  }
}
plugin {
  quota = count:User quota
  quota_vsizes = yes
  quota_rule = *:storage=1G
}
protocol imap {
  mail_plugins = $mail_plugins imap_quota
  mail_max_userip_connections = 100
}
service imap-login {
  inet_listener imap {
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
`,
  );
  execFileSync(dovecot, ['-c', conf], { stdio: 'ignore' });
  await waitForPort(port);
  const pidFile = join(dir, 'run', 'master.pid');
  // The master writes its pid file a moment after it listens.
  await until(`Dovecot's pid file ${pidFile}`, () => existsSync(pidFile), { everyMs: 50 });
  const master = Number(readFileSync(pidFile, 'utf8').trim());
  const kill = () => {
    try {
      process.kill(master, 'SIGTERM');
    } catch {
      /* already gone */
    }
  };
  process.once('exit', kill);
  return {
    target: { name: 'dovecot', port, user: USER, pass: PASS },
    async stop() {
      process.removeListener('exit', kill);
      kill();
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(master, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
