// Domains: list, add (with its first DKIM keys), remove. Used by `yubin domain ...` and
// /api/v1/domains.
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import type { Store } from '../store/types.js';
import { describeRoleMailboxes } from '../store/recipients.js';
import { dkimKeyStore } from '../checks/dkim-key-store.js';
import { validate } from './errors.js';
import { domainField } from './fields.js';

export const DomainInput = z.strictObject({ domain: domainField });

export interface DomainView {
  name: string;
  createdAt: string;
}

export interface DomainAdded {
  domain: string;
  /** The DKIM selectors the domain signs with (made now if it had none). */
  dkimSelectors: string[];
  /** RFC 5321 §4.5.1, RFC 2142 §4: where postmaster@ and abuse@ of the domain go. */
  roleMailboxes: string;
}

export async function listDomains(store: Store): Promise<DomainView[]> {
  return (await store.listDomains()).map((d) => ({ name: d.name, createdAt: d.createdAt.toISOString() }));
}

export async function addDomain(config: Config, store: Store, input: z.input<typeof DomainInput>): Promise<DomainAdded> {
  const { domain } = validate(DomainInput, input);
  await store.addDomain(domain);
  const roleMailboxes = await describeRoleMailboxes(store, domain);
  // Every new local domain gets its DKIM keys at once (src/checks/dkim-key-store.ts).
  const keys = await dkimKeyStore(config.data_dir, store).ensure(domain);
  return { domain, dkimSelectors: keys.map((k) => k.selector), roleMailboxes };
}

export async function removeDomain(store: Store, input: z.input<typeof DomainInput>): Promise<{ domain: string }> {
  const { domain } = validate(DomainInput, input);
  await store.removeDomain(domain);
  return { domain };
}
