// Debian's Postfix as a private instance for the benchmarks: a throwaway config directory with
// its own queue, data directory and maildirs, smtpd on a loopback port, started with
// `postfix -c DIR start` and stopped after (and on Ctrl-C) with `postfix -c DIR stop`.
// The system's own Postfix (if any) is not touched: nothing here reads or writes /etc/postfix.
//
// Two roles:
//  - final delivery: every recipient in `domain` goes to a maildir under DIR/mail (virtual(8),
//    which fsyncs each maildir file before it counts as delivered);
//  - relay: every recipient in `relayDomain` goes to 127.0.0.1:relayPort (smtp(8), no DNS).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { killOnInterrupt, waitForPort } from './common.js';

export interface PostfixInstance {
  port: number;
  /** Messages delivered into the maildir of `user@domain` so far. */
  delivered(): number;
  stop(): Promise<void>;
}

export interface PostfixOptions {
  dir: string;
  port: number;
  domain: string;
  user: string;
  relayDomain?: string;
  relayPort?: number;
}

export function havePostfix(): boolean {
  return existsSync('/usr/sbin/postfix') && existsSync('/usr/lib/postfix/sbin/smtpd') && spawnSync('id', ['postfix']).status === 0;
}

/** Starts the instance; resolves when smtpd answers on its port. */
export async function startPostfix(o: PostfixOptions): Promise<PostfixInstance> {
  const conf = join(o.dir, 'conf');
  const queue = join(o.dir, 'queue');
  const data = join(o.dir, 'data');
  const mail = join(o.dir, 'mail');
  for (const d of [conf, queue, data, mail]) mkdirSync(d, { recursive: true });
  // virtual(8) writes as the mailbox owner: postfix's uid (above virtual_minimum_uid).
  const uid = execFileSync('id', ['-u', 'postfix']).toString().trim();
  const gid = execFileSync('id', ['-g', 'postfix']).toString().trim();
  spawnSync('chown', ['-R', `${uid}:${gid}`, mail]);
  spawnSync('chown', ['-R', `${uid}:${gid}`, data]);
  // the postfix user must reach its queue and maildirs (the caller's directories must be searchable)
  chmodSync(o.dir, 0o755);
  const relay = o.relayDomain && o.relayPort ? `${o.relayDomain} smtp:[127.0.0.1]:${o.relayPort}\n` : '';
  writeFileSync(join(conf, 'transport'), relay);
  writeFileSync(join(conf, 'vmailbox'), `${o.user}@${o.domain} ${o.domain}/${o.user}/\n`);
  writeFileSync(
    join(conf, 'main.cf'),
    `compatibility_level = 3.6
config_directory = ${conf}
queue_directory = ${queue}
data_directory = ${data}
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.postfix-bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination
relay_domains = ${o.relayDomain ?? ''}
transport_maps = texthash:${join(conf, 'transport')}
virtual_mailbox_domains = ${o.domain}
virtual_mailbox_base = ${mail}
virtual_mailbox_maps = texthash:${join(conf, 'vmailbox')}
virtual_uid_maps = static:${uid}
virtual_gid_maps = static:${gid}
alias_maps =
alias_database =
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
biff = no
maillog_file_prefixes = ${o.dir}
maillog_file = ${join(o.dir, 'postfix.log')}
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtp_destination_concurrency_limit = 20
virtual_destination_concurrency_limit = 20
`,
  );
  // master.cf: Debian's, with smtpd on our loopback port instead of 25 and not chrooted.
  writeFileSync(
    join(conf, 'master.cf'),
    `127.0.0.1:${o.port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`,
  );
  const env = { ...process.env, MAIL_CONFIG: conf };
  const run = (cmd: string) => spawnSync('/usr/sbin/postfix', ['-c', conf, cmd], { env, encoding: 'utf8' });
  // `postfix start` creates the queue directories with the right owners (post-install).
  const r = run('start');
  if (r.status !== 0) {
    const log = existsSync(join(o.dir, 'postfix.log')) ? readFileSync(join(o.dir, 'postfix.log'), 'utf8').trim().split('\n').slice(-5).join('\n') : '';
    throw new Error(`postfix -c ${conf} start failed: ${r.stderr || r.stdout}${log}`);
  }
  const pidFile = join(queue, 'pid', 'master.pid');
  const masterPid = (): number => {
    try {
      return Number(execFileSync('cat', [pidFile]).toString().trim());
    } catch {
      return 0;
    }
  };
  const unhook = killOnInterrupt(masterPid);
  const maildir = join(mail, o.domain, o.user, 'new');
  try {
    await waitForPort(o.port);
  } catch (err) {
    run('stop');
    unhook();
    throw err;
  }
  return {
    port: o.port,
    delivered: () => (existsSync(maildir) ? readdirSync(maildir).length : 0),
    async stop() {
      run('stop');
      // master exits after its children; wait for the pid file's process to be gone
      const pid = masterPid();
      for (let i = 0; i < 100 && pid; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await new Promise((res) => setTimeout(res, 100));
      }
      unhook();
      rmSync(o.dir, { recursive: true, force: true });
    },
  };
}
