// Errors of the admin operations (src/admin), shared by the CLI and the admin API. Each is meant
// for the user as it is (`userFacing`: the CLI prints the message on one line and exits 1); the
// API turns it into an RFC 9457 problem with the status named here (src/http/api/problem.ts).
import { z } from 'zod';

export class AdminError extends Error {
  readonly userFacing = true;
  constructor(
    /** The HTTP status the API answers with. */
    readonly status: 400 | 404 | 409 | 415,
    message: string,
    /** The input field at fault (validation errors), dotted for nested ones ("targets.1"). */
    readonly field: string | null = null,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

/** Bad input: the schema's first complaint, naming the field. */
export class ValidationError extends AdminError {
  constructor(message: string, field: string | null) {
    super(400, message, field);
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends AdminError {
  constructor(message: string) {
    super(404, message);
    this.name = 'NotFoundError';
  }
}

/**
 * Validates input with a schema; the first issue becomes a ValidationError naming its field.
 * The message is the issue's own (the fields in fields.ts word theirs as the CLI always printed
 * them); the API puts the field beside it.
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.code === 'unrecognized_keys' ? (issue.keys[0] ?? null) : issue.path.length ? issue.path.join('.') : null;
  throw new ValidationError(issue.message, field);
}
