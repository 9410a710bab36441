// Aliases (forwarding addresses, catch-all @domain): list, add, remove. Used by `yubin alias ...`
// and /api/v1/aliases.
import { z } from 'zod';
import type { Store } from '../store/types.js';
import { validate } from './errors.js';
import { aliasField, domainField, targetField } from './fields.js';

export const AliasCreateInput = z.strictObject({ address: aliasField, targets: z.array(targetField).min(1, 'an alias needs at least one target').max(1000) });
export const AliasAddressInput = z.strictObject({ address: aliasField });
export const AliasFilterInput = z.strictObject({ domain: domainField.optional() });

export interface AliasView {
  address: string;
  targets: string[];
}

export async function listAliases(store: Store, input: z.input<typeof AliasFilterInput> = {}): Promise<AliasView[]> {
  const { domain } = validate(AliasFilterInput, input);
  return (await store.listAliases(domain)).map((a) => ({ address: a.address, targets: a.targets }));
}

export async function addAlias(store: Store, input: z.input<typeof AliasCreateInput>): Promise<AliasView> {
  const { address, targets } = validate(AliasCreateInput, input);
  await store.addAlias(address, targets);
  return { address, targets };
}

export async function removeAlias(store: Store, input: z.input<typeof AliasAddressInput>): Promise<{ address: string }> {
  const { address } = validate(AliasAddressInput, input);
  await store.removeAlias(address);
  return { address };
}
