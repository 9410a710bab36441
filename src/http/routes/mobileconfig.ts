// Apple configuration profile: GET /apple/mobileconfig?emailaddress=... returns a property list
// (application/x-apple-aspen-config) with one com.apple.mail.managed payload (Apple's
// "Configuration Profile Reference", Mail payload). The profile is unsigned: iOS and macOS
// install it but show it as "Unverified".
import { createHash } from 'node:crypto';
import type { Hono } from 'hono';
import type { HttpDeps } from '../deps.js';
import { mailEndpoints, type Endpoint } from '../endpoints.js';
import { escapeXml } from '../xml.js';
import { lookupAccount } from './account.js';

/** A stable UUID from some text (installing the profile again replaces the old one). */
function uuidFrom(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`.toUpperCase();
}

type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };

function plist(v: PlistValue, indent: string): string {
  if (typeof v === 'string') return `${indent}<string>${escapeXml(v)}</string>`;
  if (typeof v === 'number') return `${indent}<integer>${Math.trunc(v)}</integer>`;
  if (typeof v === 'boolean') return `${indent}<${v}/>`;
  if (Array.isArray(v)) return [`${indent}<array>`, ...v.map((x) => plist(x, indent + '  ')), `${indent}</array>`].join('\n');
  const lines = [`${indent}<dict>`];
  for (const [k, x] of Object.entries(v)) lines.push(`${indent}  <key>${escapeXml(k)}</key>`, plist(x, indent + '  '));
  lines.push(`${indent}</dict>`);
  return lines.join('\n');
}

/** The profile, or null when there is no incoming (IMAP/POP3) or no submission endpoint. */
export function mobileconfig(hostname: string, address: string, endpoints: readonly Endpoint[]): string | null {
  const incoming = endpoints.find((e) => e.protocol === 'imap') ?? endpoints.find((e) => e.protocol === 'pop3');
  const outgoing = endpoints.find((e) => e.protocol === 'smtp');
  if (!incoming || !outgoing) return null;
  const reversed = hostname.split('.').reverse().join('.');
  const mail: PlistValue = {
    EmailAccountDescription: address,
    EmailAccountName: address,
    EmailAccountType: incoming.protocol === 'imap' ? 'EmailTypeIMAP' : 'EmailTypePOP',
    EmailAddress: address,
    IncomingMailServerAuthentication: 'EmailAuthPassword',
    IncomingMailServerHostName: incoming.host,
    IncomingMailServerPortNumber: incoming.port,
    // false = STARTTLS when the server offers it (the listener always does).
    IncomingMailServerUseSSL: incoming.security === 'tls',
    IncomingMailServerUsername: address,
    OutgoingMailServerAuthentication: 'EmailAuthPassword',
    OutgoingMailServerHostName: outgoing.host,
    OutgoingMailServerPortNumber: outgoing.port,
    OutgoingMailServerUseSSL: outgoing.security === 'tls',
    OutgoingMailServerUsername: address,
    OutgoingPasswordSameAsIncomingPassword: true,
    PayloadDescription: `Mail account ${address}`,
    PayloadDisplayName: address,
    PayloadIdentifier: `${reversed}.mail.${uuidFrom(`mail ${address}`)}`,
    PayloadType: 'com.apple.mail.managed',
    PayloadUUID: uuidFrom(`mail ${hostname} ${address}`),
    PayloadVersion: 1,
  };
  const profile: PlistValue = {
    PayloadContent: [mail],
    PayloadDescription: `Mail settings for ${address} on ${hostname}`,
    PayloadDisplayName: `Mail: ${address}`,
    PayloadIdentifier: `${reversed}.profile.${uuidFrom(`profile ${address}`)}`,
    PayloadRemovalDisallowed: false,
    PayloadType: 'Configuration',
    PayloadUUID: uuidFrom(`profile ${hostname} ${address}`),
    PayloadVersion: 1,
  };
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    plist(profile, ''),
    '</plist>',
    '',
  ].join('\n');
}

export function register(app: Hono, deps: HttpDeps): void {
  app.get('/apple/mobileconfig', async (c) => {
    const address = c.req.query('emailaddress');
    if (!address) return c.text('emailaddress is required', 400);
    const found = await lookupAccount(deps, address, null);
    if (!found.ok) return c.text(found.message, found.status);
    const body = mobileconfig(deps.config.hostname, found.address, mailEndpoints(deps.config.hostname, deps.mailAddresses()));
    if (!body) return c.text('no IMAP/POP3 or submission listener is running', 404);
    return c.body(body, 200, {
      'content-type': 'application/x-apple-aspen-config; charset=utf-8',
      'content-disposition': `attachment; filename="${found.domain}.mobileconfig"`,
      'cache-control': 'no-store',
    });
  });
}
