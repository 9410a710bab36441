// What every throwaway Dovecot instance of the tests and benchmarks has in common (the compliance
// suite's reference server, the POP3 and IMAP benchmarks): its own run, state and log paths under
// `dir`, loopback only, no TLS, plaintext logins, a maildir under `home` served as the user
// "nobody" (Dovecot refuses to serve mail as root), one static password.
import { join } from 'node:path';

/** The start of the configuration; the caller adds its services and limits after it. */
export function dovecotConfigHead(o: { dir: string; protocols: string; home: string; password: string; mailLocation?: string }): string {
  return `base_dir = ${join(o.dir, 'run')}
state_dir = ${join(o.dir, 'state')}
log_path = ${join(o.dir, 'dovecot.log')}
protocols = ${o.protocols}
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
first_valid_uid = 1
mail_location = ${o.mailLocation ?? 'maildir:~/Maildir'}
passdb {
  driver = static
  args = password=${o.password}
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=${o.home}
}
`;
}
