// The configuration file's schema (TOML). Every key here is documented in README.md.
// Each section is its own object so that the module it configures can grow it without
// touching the others. Unknown keys are an error (strict objects), named by their path.
import { z } from 'zod';
import { hostname as osHostname } from 'node:os';

/** "ip:port" with an IPv4 or bracketed IPv6 address, port 0-65535 (0 = any free port, for tests). */
export const listenAddress = z.string().refine((s) => parseListenAddress(s) !== null, {
  message: 'must be "ip:port" (for example "127.0.0.1:25" or "[::1]:25")',
});

export function parseListenAddress(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port > 65535) return null;
  if (m[2] && m[2].split('.').some((o) => Number(o) > 255)) return null;
  return { host, port };
}

/** Sizes: a number of bytes, or a string like "500K", "10M", "2G". */
export const size = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const n = parseSize(v);
  if (n === null) {
    ctx.addIssue({ code: 'custom', message: 'must be a size in bytes or like 500K, 10M, 2G' });
    return z.NEVER;
  }
  return n;
});

export function parseSize(s: string): number | null {
  const m = /^\s*(\d+)\s*([KMG]?)B?\s*$/i.exec(s);
  if (!m) return null;
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * mult;
}

/** Durations: a number of seconds, or a string like "30s", "5m", "4h", "5d". Result in milliseconds. */
export const duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v * 1000;
  const n = parseDuration(v);
  if (n === null) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration like 30s, 5m, 4h, 5d (or seconds)' });
    return z.NEVER;
  }
  return n;
});

export function parseDuration(s: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(s);
  if (!m) return null;
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(m[1]) * mult);
}

const listenList = z.array(listenAddress);

export const listenSchema = z
  .object({
    smtp: listenList.default(['127.0.0.1:2525']),
    submission: listenList.default(['127.0.0.1:2587']),
    submissions: listenList.default(['127.0.0.1:2465']),
    imap: listenList.default(['127.0.0.1:2143']),
    imaps: listenList.default(['127.0.0.1:2993']),
    pop3: listenList.default(['127.0.0.1:2110']),
    pop3s: listenList.default(['127.0.0.1:2995']),
    /** ManageSieve (RFC 5804, src/managesieve): STARTTLS then AUTHENTICATE. Production: port 4190. */
    managesieve: listenList.default(['127.0.0.1:4190']),
    /** The web face (src/http): ACME http-01, autoconfig, redirects to https. Production: port 80. */
    http: listenList.default(['127.0.0.1:2080']),
    /** HTTPS: autoconfig, autodiscover, mobileconfig, MTA-STS policy. Production: port 443. */
    https: listenList.default(['127.0.0.1:2443']),
    /** Metrics, health and the admin API; loopback only (docs/http.md). */
    admin: listenList.default(['127.0.0.1:2081']),
  })
  .strict();
/** The HTTP listeners (src/http); the others are the mail listeners (src/net/listener.ts). */
export type HttpListenerName = 'http' | 'https' | 'admin';
export const HTTP_LISTENER_NAMES: readonly HttpListenerName[] = ['http', 'https', 'admin'];
export type ListenerName = Exclude<keyof z.infer<typeof listenSchema>, HttpListenerName>;
export const LISTENER_NAMES: readonly ListenerName[] = ['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s', 'managesieve'];

export const tlsSchema = z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict();

export const dnsSchema = z
  .object({
    servers: z.array(listenAddress).default([]),
    timeout: duration.default(5000),
  })
  .strict();

/** Connection limits shared by every listener (src/net). */
export const limitsSchema = z
  .object({
    max_connections: z.number().int().positive().default(10_000),
    max_connections_per_ip: z.number().int().positive().default(50),
    /** Time allowed for a TLS handshake. */
    tls_handshake_timeout: duration.default(30_000),
    /** SIGTERM: how long in-flight work may take before the process exits anyway. */
    shutdown_grace: duration.default(30_000),
  })
  .strict();

/** Authentication (src/auth), shared by SMTP submission, IMAP and POP3. */
export const authSchema = z
  .object({
    /** Allow LOGIN/AUTH/USER+PASS on IMAP and POP3 before TLS (never recommended outside tests). */
    allow_plaintext: z.boolean().default(false),
    /** Failures per IP (and per account) before delays start growing. */
    throttle_free_failures: z.number().int().nonnegative().default(3),
    /** Failures per IP inside throttle_window that lead to a temporary refusal of that IP. */
    throttle_max_failures: z.number().int().positive().default(10),
    throttle_window: duration.default(15 * 60_000),
    /** First delay after the free failures; doubles with each further failure. */
    throttle_delay: duration.default(1000),
    /** Longest delay before answering a throttled-but-allowed attempt. */
    throttle_max_delay: duration.default(15_000),
    /** Longest delay for an account's failures from any IP; an account itself is never refused. */
    throttle_account_max_delay: duration.default(3000),
  })
  .strict();

/** SMTP server (src/smtp/server). */
export const smtpSchema = z
  .object({
    max_message_size: size.default(50 * 1024 * 1024),
    max_recipients: z.number().int().positive().default(100),
    max_errors: z.number().int().positive().default(20),
    command_timeout: duration.default(5 * 60_000),
    /** Minimum data rate in DATA/BDAT, bytes per second, measured over data_rate_window windows. */
    data_min_rate: z.number().int().nonnegative().default(1024),
    /** The window over which data_min_rate is measured. */
    data_rate_window: duration.default(30_000),
    /**
     * Longest line accepted in a message, in octets without its CR LF (RFC 5321 §4.5.3.1.6 allows
     * senders only 998, but real senders send more; such lines are re-encoded when relayed).
     */
    max_line_length: size.refine((n) => n >= 998, { message: 'must be at least 998 (RFC 5321 §4.5.3.1.6)' }).default(64 * 1024),
    /** Most lines in a message's header section (an abusive structure beyond: 552 5.3.4). */
    max_header_lines: z.number().int().positive().default(10_000),
    /** Most lines in one header field, its continuation lines included (552 5.3.4 beyond). */
    max_header_field_lines: z.number().int().positive().default(1000),
  })
  .strict();

/** IMAP server (src/imap). */
export const imapSchema = z
  .object({
    append_limit: size.default(50 * 1024 * 1024),
    max_command_length: size.default(64 * 1024),
    /** RFC 5464 §4.3: the largest METADATA value accepted (NO [METADATA MAXSIZE n] beyond). */
    metadata_max_entry_size: size.default(64 * 1024),
    /** METADATA entries per mailbox, and of the server, per account (NO [METADATA TOOMANY] beyond; 0 = no limit). */
    metadata_max_entries: z.number().int().nonnegative().default(100),
    /** Octets of every METADATA entry's name and value of an account together (NO [METADATA TOOMANY] beyond; 0 = no limit). */
    metadata_max_total: size.default(1024 * 1024),
    autologout: duration.default(30 * 60_000),
    max_bad_commands_before_login: z.number().int().positive().default(5),
    /** Time allowed between connecting and logging in before the connection is closed. */
    preauth_timeout: duration.default(60_000),
    /**
     * Memory for the mailbox indexes kept in this process (src/imap/index; docs/store.md): past it,
     * those of mailboxes no session has selected are dropped, least recently used first.
     */
    mailbox_index_memory: size.default(256 * 1024 * 1024),
  })
  .strict();

/** POP3 server (src/pop3). */
export const pop3Schema = z
  .object({
    idle_timeout: duration.default(10 * 60_000),
    max_bad_commands: z.number().int().positive().default(10),
  })
  .strict();

/** ManageSieve server (RFC 5804, src/managesieve); docs/managesieve.md. */
export const managesieveSchema = z
  .object({
    /** How long a client may stay silent before the connection is closed (BYE). */
    idle_timeout: duration.default(30 * 60_000),
    /** Time allowed between connecting and logging in. */
    login_timeout: duration.default(60_000),
    /** Bad commands and failed logins before the connection is closed. */
    max_bad_commands: z.number().int().positive().default(10),
    /** Longest command line (without its literals). */
    max_command_length: size.default(64 * 1024),
  })
  .strict();

/** Sieve scripts (RFC 5228) and Sieve at delivery (src/delivery/sieve.ts); docs/managesieve.md. */
export const sieveSchema = z
  .object({
    /** Largest script, in octets (PUTSCRIPT beyond: NO (QUOTA/MAXSIZE)). */
    max_script_size: size.default(64 * 1024),
    /** Most scripts per account (NO (QUOTA/MAXSCRIPTS) beyond); 0 = no limit. */
    max_scripts: z.number().int().nonnegative().default(20),
    /** Most redirects one run of a script may make (ManageSieve's MAXREDIRECTS). */
    max_redirects: z.number().int().nonnegative().default(4),
    /** Most redirects per account per day (UTC); past it a redirect is kept in INBOX instead. */
    max_redirects_per_day: z.number().int().nonnegative().default(100),
  })
  .strict();

/** Outbound queue and delivery (src/queue). */
export const queueSchema = z
  .object({
    /** Remote SMTP port for outbound delivery; 25 in production, changed only for tests. */
    remote_port: z.number().int().min(1).max(65535).default(25),
    retry_initial: duration.default(5 * 60_000),
    retry_max: duration.default(4 * 3_600_000),
    give_up_after: duration.default(5 * 86_400_000),
    /** Send a delay warning to the sender after this long; 0 = never. */
    delay_warning: duration.default(4 * 3_600_000),
    concurrency: z.number().int().positive().default(20),
    per_domain_concurrency: z.number().int().positive().default(4),
    connect_timeout: duration.default(30_000),
    /**
     * With [store] backend = "postgresql": how long a node's claim on a message (an attempt, its
     * DSNs) lasts without renewal; renewed every third of it while the node lives, taken over by
     * another node after a crash once it has passed.
     */
    lease: duration.refine((v) => v >= 1000, 'must be at least 1s').default(120_000),
    /** Local address outbound connections are made from (for tests with several instances on loopback). */
    source_address: z.string().optional(),
    smarthost: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535).default(587),
        /** "starttls" (require STARTTLS), "tls" (implicit TLS), "none" (plain, tests only). */
        tls: z.enum(['starttls', 'tls', 'none']).default('starttls'),
        username: z.string().optional(),
        password: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Sender checks and spam defence (src/checks); docs/checks.md explains each key. */
export const checksSchema = z
  .object({
    /** Run SPF, DKIM, DMARC, ARC and the spam score on the smtp listener. */
    enabled: z.boolean().default(true),
    /** Time one check stage may take; past it the stage gives timeout_action. */
    timeout: duration.default(30_000),
    /** What a check that times out gives: "accept" (fail open, logged) or "tempfail" (451 4.4.3). */
    timeout_action: z.enum(['accept', 'tempfail']).default('accept'),
    /** Also check SPF for the HELO/EHLO name (RFC 7208 §2.3). */
    spf_helo: z.boolean().default(true),
    /** SPF fail of MAIL FROM: "none" (score only, DMARC decides) or "reject" (550 5.7.23 at MAIL FROM). */
    spf_fail_action: z.enum(['none', 'reject']).default('none'),
    /** RSA DKIM keys shorter than this (bits) do not verify. */
    dkim_min_rsa_bits: z.number().int().min(512).default(1024),
    /** Apply the sender domain's DMARC policy (reject, quarantine); false = only report it. */
    dmarc_enforce: z.boolean().default(true),
    /** Verify ARC chains (RFC 8617) and report arc= in Authentication-Results. */
    arc: z.boolean().default(true),
    /** Seal forwarded mail (alias to a remote address) with ARC, signed by the alias's domain key. */
    arc_seal: z.boolean().default(true),
    /** DNS blocklist zones checked at connect (e.g. "zen.spamhaus.org"); a hit refuses with 554 5.7.1. */
    dnsbl_zones: z.array(z.string().min(1)).default([]),
    /** Greylisting of unknown (client network, sender, recipient) triplets, 451 4.7.1. */
    greylist: z.boolean().default(false),
    /** How long an unknown triplet must wait before a retry is accepted. */
    greylist_delay: duration.default(5 * 60_000),
    /** A first attempt not retried within this time is forgotten. */
    greylist_retry_window: duration.default(2 * 86_400_000),
    /** A triplet (and its sender domain from that network) that passed is known this long. */
    greylist_expire: duration.default(36 * 86_400_000),
    /** Inbound messages per client IP per hour (0 = no limit). */
    ratelimit_ip_messages: z.number().int().nonnegative().default(1000),
    /** Inbound recipients per client IP per hour (0 = no limit). */
    ratelimit_ip_recipients: z.number().int().nonnegative().default(5000),
    /** Inbound messages per envelope sender per hour (0 = no limit). */
    ratelimit_sender_messages: z.number().int().nonnegative().default(500),
    /** Inbound recipients per envelope sender per hour (0 = no limit). */
    ratelimit_sender_recipients: z.number().int().nonnegative().default(2500),
    /** Submitted messages per authenticated user per hour (0 = no limit). */
    ratelimit_user_messages: z.number().int().nonnegative().default(500),
    /** Submitted recipients per authenticated user per hour (0 = no limit). */
    ratelimit_user_recipients: z.number().int().nonnegative().default(2500),
    /** Client networks (CIDR) exempt from DNSBL, greylisting and inbound rate limits. */
    trusted_networks: z.array(z.string().min(1)).default(['127.0.0.0/8', '::1/128']),
    /** Spam score at or above which a message goes to Junk (a user's own threshold overrides it). */
    spam_threshold: z.number().default(5),
    /** Per-user spam thresholds, e.g. { "bob@example.com" = 3 } (a threshold set with the API in checks.sqlite wins). */
    user_spam_thresholds: z.record(z.string(), z.number()).default({}),
    /** Spam score at or above which a message is refused with 550 5.7.1 (0 = never). */
    spam_reject_threshold: z.number().nonnegative().default(0),
    /** SRS domain for forwarded envelope senders; "" = the server's hostname. */
    srs_domain: z.string().default(''),
    /** SRS secret; "" = generated once into data_dir/srs.key. */
    srs_secret: z.string().default(''),
  })
  .strict();

/** The worker threads for CPU-heavy per-message work (src/workers); docs/checks.md "Worker pool". */
export const workersSchema = z
  .object({
    /** Worker threads; 0 = a small number from the CPU count (2 to 4). */
    threads: z.number().int().nonnegative().max(64).default(0),
    /** Time limit of one job (DKIM signing, ARC sealing); past it the worker is terminated. Verification uses [checks] timeout. */
    job_timeout: duration.default(30_000),
    /** Jobs that may wait for a free worker; one more fails at once (the checks give timeout_action). */
    max_queue: z.number().int().positive().default(200),
    /** Log a warning when the event loop's p99 delay over a minute reaches this. */
    loop_delay_warn: duration.default(200),
  })
  .strict();

/** MTA-STS policy (RFC 8461) served at https://mta-sts.<domain>/.well-known/mta-sts.txt (src/http). */
export const mtaStsSchema = z
  .object({
    /** RFC 8461 §5: "enforce", "testing" (report only) or "none" (withdraw a policy). */
    mode: z.enum(['none', 'testing', 'enforce']).default('testing'),
    /** Seconds senders may cache the policy; RFC 8461 §3.2 suggests weeks, at most 31557600. */
    max_age: z.number().int().min(1).max(31_557_600).default(604_800),
    /** MX host names (patterns like "*.example.com" allowed) the policy names; [] = hostname. */
    mx: z.array(z.string().regex(/^(\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$/, 'must be a host name like mail.example.com or *.example.com')).default([]),
  })
  .strict();

/** Automatic certificates (RFC 8555, src/acme, docs/acme.md). */
export const acmeSchema = z
  .object({
    /** Unset: on when hostname is a public name and [tls] is not set (src/acme/names.ts acmeEnabled). */
    enabled: z.boolean().optional(),
    /** The CA's directory URL (default Let's Encrypt production). */
    directory: z.url({ protocol: /^https?$/ }).default('https://acme-v02.api.letsencrypt.org/directory'),
    /** Contact address given to the CA (expiry and policy notices); "" = none. */
    email: z.string().default(''),
    /** RFC 8737 tls-alpn-01 (answered on the https listener, port 443) or RFC 8555 §8.3 http-01 (port 80). */
    challenge: z.enum(['tls-alpn-01', 'http-01']).default('tls-alpn-01'),
    /** Extra CA (PEM file) trusted for the ACME server's own HTTPS: private CAs, tests. "" = none. */
    ca_file: z.string().default(''),
    /** This server's public addresses, which names must resolve to; [] = the addresses the listeners are bound to. */
    public_addresses: z.array(z.union([z.ipv4(), z.ipv6()])).default([]),
    /** First retry after a failed order; doubles with each failure up to a day. */
    retry: duration.default(5 * 60_000),
  })
  .strict();

/** Where the mail store lives (docs/store.md): SQLite in data_dir, or PostgreSQL shared by several nodes. */
export const storeSchema = z
  .object({
    backend: z.enum(['sqlite', 'postgresql']).default('sqlite'),
    /** postgresql://user:password@host:port/database; "" = the environment variable YUBIN_DATABASE_URL. */
    url: z.string().default(''),
    /** PostgreSQL connections per node (two more: LISTEN and locks). */
    pool_size: z.number().int().min(1).max(1000).default(10),
    /** PostgreSQL only: raw messages in the database (chunked) or as files in data_dir/blobs (a directory every node mounts). */
    blobs: z.enum(['database', 'files']).default('database'),
  })
  .strict()
  .refine((s) => s.backend !== 'sqlite' || s.url === '', { message: 'url is for backend = "postgresql"', path: ['url'] })
  .refine((s) => s.url === '' || /^postgres(ql)?:\/\//.test(s.url), { message: 'must be a postgresql:// URL', path: ['url'] });

export const logSchema = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export const configSchema = z
  .object({
    hostname: z
      .string()
      .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$/, 'must be a domain name like mail.example.com')
      .default(osHostname()),
    data_dir: z.string().min(1).default('./data'),
    store: storeSchema.default(storeSchema.parse({})),
    listen: listenSchema.default(listenSchema.parse({})),
    tls: tlsSchema.optional(),
    dns: dnsSchema.default(dnsSchema.parse({})),
    limits: limitsSchema.default(limitsSchema.parse({})),
    auth: authSchema.default(authSchema.parse({})),
    smtp: smtpSchema.default(smtpSchema.parse({})),
    imap: imapSchema.default(imapSchema.parse({})),
    pop3: pop3Schema.default(pop3Schema.parse({})),
    managesieve: managesieveSchema.default(managesieveSchema.parse({})),
    sieve: sieveSchema.default(sieveSchema.parse({})),
    queue: queueSchema.default(queueSchema.parse({})),
    checks: checksSchema.default(checksSchema.parse({})),
    workers: workersSchema.default(workersSchema.parse({})),
    mta_sts: mtaStsSchema.default(mtaStsSchema.parse({})),
    acme: acmeSchema.default(acmeSchema.parse({})),
    log: logSchema.default(logSchema.parse({})),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
