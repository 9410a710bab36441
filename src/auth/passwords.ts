// Password hashing: argon2id (RFC 9106) in PHC string form ("$argon2id$v=19$m=...,t=...,p=...$salt$hash").
import { hash, verify, type Algorithm } from '@node-rs/argon2';

// Algorithm is a const enum with no runtime value under tsx (esbuild does not inline it): 2 = Argon2id.
const ARGON2ID = 2 as Algorithm;

/** Cost: 19 MiB, 2 passes, 1 lane (OWASP's argon2id baseline); some tens of ms per check. */
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Hashes a password with argon2id and a random salt; returns the PHC string the store keeps. */
export async function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

/** True when password matches the PHC string; false for a wrong password or a hash that is not argon2. */
export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  if (!phc.startsWith('$argon2')) return false;
  try {
    return await verify(phc, password);
  } catch {
    return false;
  }
}
