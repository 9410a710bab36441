// DKIM keys of the local domains: list, generate, rotate, retire (src/checks/dkim-key-store.ts:
// data_dir/dkim/<domain>/ with SQLite, the shared database with PostgreSQL). Used by `yubin dkim ...` and /api/v1/domains/{domain}/dkim.
// Each result carries the TXT record to publish.
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import type { Store } from '../store/types.js';
import { dkimRecord, type DkimKeyInfo } from '../checks/dkim-keys.js';
import { dkimKeyStore } from '../checks/dkim-key-store.js';
import { NotFoundError, validate } from './errors.js';
import { domainField, selectorField } from './fields.js';

export const DkimDomainInput = z.strictObject({ domain: domainField });
export const DkimRetireInput = z.strictObject({ domain: domainField, selector: selectorField });

export interface DkimKeyView {
  domain: string;
  selector: string;
  algorithm: DkimKeyInfo['algorithm'];
  created: string;
  /** The DNS name of the record: <selector>._domainkey.<domain>. */
  name: string;
  /** The TXT record's text (RFC 6376 §3.6.1), unquoted. */
  record: string;
}

const view = (k: DkimKeyInfo): DkimKeyView => ({
  domain: k.domain,
  selector: k.selector,
  algorithm: k.algorithm,
  created: k.created.toISOString(),
  name: `${k.selector}._domainkey.${k.domain}.`,
  record: dkimRecord(k),
});

/** A domain that must be local (keys are made only for the domains this server receives mail for). */
export async function requireLocalDomain(store: Pick<Store, 'isLocalDomain'>, domain: string): Promise<void> {
  if (!(await store.isLocalDomain(domain))) throw new NotFoundError(`${domain} is not a local domain (add it with "yubin domain add ${domain}")`);
}

export async function listDkimKeys(config: Config, store: Store, input: z.input<typeof DkimDomainInput>): Promise<DkimKeyView[]> {
  const { domain } = validate(DkimDomainInput, input);
  return (await dkimKeyStore(config.data_dir, store).list(domain)).map(view);
}

/** The first RSA-2048 and Ed25519 keys of a local domain (refused when it has keys). */
export async function generateDkimKeys(config: Config, store: Store, input: z.input<typeof DkimDomainInput>): Promise<DkimKeyView[]> {
  const { domain } = validate(DkimDomainInput, input);
  await requireLocalDomain(store, domain);
  return (await dkimKeyStore(config.data_dir, store).generate(domain)).map(view);
}

/** New RSA and Ed25519 selectors; the old ones keep signing until the new records are published. */
export async function rotateDkimKeys(config: Config, store: Store, input: z.input<typeof DkimDomainInput>): Promise<DkimKeyView[]> {
  const { domain } = validate(DkimDomainInput, input);
  await requireLocalDomain(store, domain);
  return (await dkimKeyStore(config.data_dir, store).rotate(domain)).map(view);
}

/** Deletes an old selector after rotation (its DNS record is withdrawn later). */
export async function retireDkimKey(config: Config, store: Store, input: z.input<typeof DkimRetireInput>): Promise<{ domain: string; selector: string }> {
  const { domain, selector } = validate(DkimRetireInput, input);
  const keys = dkimKeyStore(config.data_dir, store);
  if (!(await keys.list(domain)).some((k) => k.selector === selector)) throw new NotFoundError(`${domain} has no DKIM selector ${selector}`);
  await keys.retire(domain, selector);
  return { domain, selector };
}
