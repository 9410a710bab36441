// Admin API bearer tokens: `yubin api-token create|list|revoke` and the API's authentication.
// A token is "yubin_" + 256 random bits (base64url); it is shown once and only its SHA-256 is
// stored. A fast hash is right here (the secret has 256 bits of entropy, nothing to brute-force;
// argon2 is for passwords people choose), and checking a presented token is one indexed lookup
// by its hash followed by a constant-time compare of the hashes.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { ApiToken, Store } from '../store/types.js';
import { validate } from './errors.js';

const PREFIX = 'yubin_';
/** 256 bits: base64url of 32 bytes is 43 characters. */
const TOKEN = /^yubin_[A-Za-z0-9_-]{43}$/;

export const TokenNameInput = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a token name is 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit')
    .meta({ description: 'the token name (shown in the log for every call made with it)', examples: ['deploy'] }),
});

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Makes a token; the secret is returned here only, the store keeps its hash. */
export async function createToken(store: Store, input: z.input<typeof TokenNameInput>, now = new Date()): Promise<ApiToken & { token: string }> {
  const { name } = validate(TokenNameInput, input);
  const token = PREFIX + randomBytes(32).toString('base64url');
  const made = await store.apiTokens.createApiToken(name, hashToken(token), now);
  return { ...made, token };
}

export function listTokens(store: Store): Promise<ApiToken[]> {
  return store.apiTokens.listApiTokens();
}

export async function revokeToken(store: Store, input: z.input<typeof TokenNameInput>): Promise<{ name: string }> {
  const { name } = validate(TokenNameInput, input);
  await store.apiTokens.revokeApiToken(name);
  return { name };
}

/** Last used is written at most this often per token (a write per API call would be waste). */
const TOUCH_EVERY_MS = 60_000;

/**
 * The token a presented secret belongs to, or null (malformed, unknown or revoked). Records the
 * use (at most once a minute per token).
 */
export async function authenticateToken(store: Pick<Store, 'apiTokens'>, presented: string, now = new Date()): Promise<ApiToken | null> {
  if (!TOKEN.test(presented)) return null;
  const hash = hashToken(presented);
  const found = await store.apiTokens.findApiToken(hash);
  if (!found || !timingSafeEqual(Buffer.from(found.secretHash, 'hex'), Buffer.from(hash, 'hex'))) return null;
  if (!found.lastUsedAt || now.getTime() - found.lastUsedAt.getTime() >= TOUCH_EVERY_MS) await store.apiTokens.touchApiToken(found.name, now);
  return { name: found.name, createdAt: found.createdAt, lastUsedAt: found.lastUsedAt };
}
