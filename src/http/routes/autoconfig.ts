// Thunderbird autoconfig: GET /mail/config-v1.1.xml and /.well-known/autoconfig/mail/config-v1.1.xml
// (?emailaddress=...), the clientConfig 1.1 format of
// https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat. Served on http
// (Thunderbird asks http://autoconfig.<domain> first) and on https.
import type { Hono } from 'hono';
import type { HttpDeps } from '../deps.js';
import { mailEndpoints, type Endpoint } from '../endpoints.js';
import { escapeXml } from '../xml.js';
import { domainFromHost, lookupAccount } from './account.js';

export const AUTOCONFIG_PATHS = ['/mail/config-v1.1.xml', '/.well-known/autoconfig/mail/config-v1.1.xml'] as const;

/** The clientConfig document; username is the address (or %EMAILADDRESS%, which the client fills in). */
export function thunderbirdConfig(domain: string, address: string, endpoints: readonly Endpoint[]): string {
  const user = address ? escapeXml(address) : '%EMAILADDRESS%';
  const server = (e: Endpoint): string => {
    const tag = e.protocol === 'smtp' ? 'outgoingServer' : 'incomingServer';
    return [
      `    <${tag} type="${e.protocol}">`,
      `      <hostname>${escapeXml(e.host)}</hostname>`,
      `      <port>${e.port}</port>`,
      `      <socketType>${e.security === 'tls' ? 'SSL' : 'STARTTLS'}</socketType>`,
      `      <authentication>password-cleartext</authentication>`,
      `      <username>${user}</username>`,
      `    </${tag}>`,
    ].join('\n');
  };
  const d = escapeXml(domain);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<clientConfig version="1.1">',
    `  <emailProvider id="${d}">`,
    `    <domain>${d}</domain>`,
    `    <displayName>${d}</displayName>`,
    `    <displayShortName>${d}</displayShortName>`,
    // Incoming servers in order of preference (IMAP before POP3, implicit TLS first), then outgoing.
    ...endpoints.filter((e) => e.protocol !== 'smtp').map(server),
    ...endpoints.filter((e) => e.protocol === 'smtp').map(server),
    '  </emailProvider>',
    '</clientConfig>',
    '',
  ].join('\n');
}

export function register(app: Hono, deps: HttpDeps): void {
  for (const path of AUTOCONFIG_PATHS) {
    app.get(path, async (c) => {
      const found = await lookupAccount(deps, c.req.query('emailaddress'), domainFromHost(c.req.header('host'), 'autoconfig'));
      if (!found.ok) return c.text(found.message, found.status);
      const body = thunderbirdConfig(found.domain, found.address, mailEndpoints(deps.config.hostname, deps.mailAddresses()));
      return c.body(body, 200, { 'content-type': 'application/xml; charset=utf-8', 'cache-control': 'no-store' });
    });
  }
}
