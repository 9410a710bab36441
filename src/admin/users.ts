// Accounts: create (with a password), list, show, passwd, quota, remove. Used by `yubin user ...`
// and /api/v1/users; the password is hashed here (argon2id, src/auth/passwords.ts).
import { z } from 'zod';
import type { Store } from '../store/types.js';
import { hashPassword } from '../auth/passwords.js';
import { describeRoleMailboxes } from '../store/recipients.js';
import { NotFoundError, validate } from './errors.js';
import { addressField, domainField, passwordField, quotaField } from './fields.js';

export const UserCreateInput = z.strictObject({ address: addressField, password: passwordField, quota: quotaField.optional() });
export const UserAddressInput = z.strictObject({ address: addressField });
export const UserPasswordInput = z.strictObject({ address: addressField, password: passwordField });
export const UserQuotaInput = z.strictObject({ address: addressField, quota: quotaField });
export const DomainFilterInput = z.strictObject({ domain: domainField.optional() });

export interface UserView {
  address: string;
  domain: string;
  /** Bytes used. */
  usage: number;
  /** Bytes; 0 = unlimited. */
  quota: number;
  createdAt: string;
}

export interface UserDetail extends UserView {
  mailboxes: Array<{ name: string; specialUse: string | null; messages: number; unseen: number; size: number }>;
}

const view = (a: { address: string; domain: string; usage: number; quota: number; createdAt: Date }): UserView => ({
  address: a.address,
  domain: a.domain,
  usage: a.usage,
  quota: a.quota,
  createdAt: a.createdAt.toISOString(),
});

export async function createUser(store: Store, input: z.input<typeof UserCreateInput>): Promise<UserView & { roleMailboxes: string }> {
  const { address, password, quota = 0 } = validate(UserCreateInput, input);
  const acct = await store.addAccount(address, await hashPassword(password), quota);
  return { ...view(acct), roleMailboxes: await describeRoleMailboxes(store, acct.domain) };
}

export async function listUsers(store: Store, input: z.input<typeof DomainFilterInput> = {}): Promise<UserView[]> {
  const { domain } = validate(DomainFilterInput, input);
  return (await store.listAccounts(domain)).map(view);
}

export async function showUser(store: Store, input: z.input<typeof UserAddressInput>): Promise<UserDetail> {
  const { address } = validate(UserAddressInput, input);
  const acct = await store.getAccount(address);
  if (!acct) throw new NotFoundError(`no such user: ${address}`);
  const mailboxes: UserDetail['mailboxes'] = [];
  for (const mb of await store.listMailboxes(acct.id)) {
    const st = await store.mailboxStatus(mb.id);
    mailboxes.push({ name: mb.name, specialUse: mb.specialUse, messages: st.messages, unseen: st.unseen, size: st.size });
  }
  return { ...view(acct), mailboxes };
}

export async function setUserPassword(store: Store, input: z.input<typeof UserPasswordInput>): Promise<{ address: string }> {
  const { address, password } = validate(UserPasswordInput, input);
  await store.setPassword(address, await hashPassword(password));
  return { address };
}

export async function setUserQuota(store: Store, input: z.input<typeof UserQuotaInput>): Promise<{ address: string; quota: number }> {
  const { address, quota } = validate(UserQuotaInput, input);
  await store.setQuota(address, quota);
  return { address, quota };
}

export async function removeUser(store: Store, input: z.input<typeof UserAddressInput>): Promise<{ address: string }> {
  const { address } = validate(UserAddressInput, input);
  await store.removeAccount(address);
  return { address };
}
