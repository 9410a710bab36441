// Outlook autodiscover, the POX ("plain old XML") form: POST /autodiscover/autodiscover.xml with
// an <EMailAddress> in the requestschema/2006 document, answered with responseschema/2006a
// (MS-OXDSCLI §2.2.3 / §2.2.4). Outlook also sends the "/Autodiscover/Autodiscover.xml" spelling.
import type { Hono } from 'hono';
import type { HttpDeps } from '../deps.js';
import { mailEndpoints, type Endpoint } from '../endpoints.js';
import { elementText, escapeXml } from '../xml.js';
import { lookupAccount } from './account.js';

export const AUTODISCOVER_PATHS = ['/autodiscover/autodiscover.xml', '/Autodiscover/Autodiscover.xml'] as const;
/** Larger request bodies are refused (a real request is a few hundred bytes). */
export const MAX_AUTODISCOVER_BODY = 16 * 1024;

const RESPONSE_NS = 'http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006';
const OUTLOOK_NS = 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a';

export function autodiscoverResponse(address: string, endpoints: readonly Endpoint[]): string {
  const best = (p: Endpoint['protocol']) => endpoints.find((e) => e.protocol === p);
  const protocols = [best('imap'), best('pop3'), best('smtp')].filter((e): e is Endpoint => !!e);
  const user = escapeXml(address);
  const block = (e: Endpoint): string =>
    [
      '      <Protocol>',
      `        <Type>${e.protocol === 'pop3' ? 'POP3' : e.protocol.toUpperCase()}</Type>`,
      `        <Server>${escapeXml(e.host)}</Server>`,
      `        <Port>${e.port}</Port>`,
      `        <LoginName>${user}</LoginName>`,
      '        <DomainRequired>off</DomainRequired>',
      '        <SPA>off</SPA>',
      // SSL on with Encryption: "SSL" is implicit TLS, "TLS" is STARTTLS.
      '        <SSL>on</SSL>',
      `        <Encryption>${e.security === 'tls' ? 'SSL' : 'TLS'}</Encryption>`,
      '        <AuthRequired>on</AuthRequired>',
      ...(e.protocol === 'smtp' ? ['        <UsePOPAuth>on</UsePOPAuth>', '        <SMTPLast>off</SMTPLast>'] : []),
      '      </Protocol>',
    ].join('\n');
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    `<Autodiscover xmlns="${RESPONSE_NS}">`,
    `  <Response xmlns="${OUTLOOK_NS}">`,
    '    <Account>',
    '      <AccountType>email</AccountType>',
    '      <Action>settings</Action>',
    ...protocols.map(block),
    '    </Account>',
    '  </Response>',
    '</Autodiscover>',
    '',
  ].join('\n');
}

export function register(app: Hono, deps: HttpDeps): void {
  for (const path of AUTODISCOVER_PATHS) {
    app.post(path, async (c) => {
      const length = Number(c.req.header('content-length') ?? '0');
      if (length > MAX_AUTODISCOVER_BODY) return c.text('request too large', 413);
      const raw = await c.req.arrayBuffer();
      if (raw.byteLength > MAX_AUTODISCOVER_BODY) return c.text('request too large', 413);
      const address = elementText(new TextDecoder().decode(raw), 'EMailAddress');
      if (!address) return c.text('the request has no EMailAddress', 400);
      const found = await lookupAccount(deps, address, null);
      if (!found.ok) return c.text(found.message, found.status);
      const body = autodiscoverResponse(found.address, mailEndpoints(deps.config.hostname, deps.mailAddresses()));
      return c.body(body, 200, { 'content-type': 'application/xml; charset=utf-8', 'cache-control': 'no-store' });
    });
  }
}
