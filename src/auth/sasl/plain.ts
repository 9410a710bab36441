// SASL PLAIN (RFC 4616) as a state machine: one message "[authzid] NUL authcid NUL passwd".
import { SaslError, type SaslMechanism } from '../types.js';
import { decodeUtf8Field } from './utf8.js';

export function createPlain(): SaslMechanism {
  let state: 'start' | 'waiting' | 'done' = 'start';
  return {
    name: 'PLAIN',
    step(response) {
      if (state === 'done') throw new SaslError('PLAIN exchange already complete');
      if (response === null) {
        // RFC 4422 §5: no initial response, so the server sends an empty challenge
        if (state === 'waiting') throw new SaslError('PLAIN expects the credentials message');
        state = 'waiting';
        return { challenge: Buffer.alloc(0) };
      }
      state = 'done';
      return { credentials: parsePlain(response) };
    },
  };
}

/** Parses a PLAIN message; throws SaslError when it is malformed. */
export function parsePlain(msg: Buffer): { authzid: string; username: string; password: string } {
  // RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
  const first = msg.indexOf(0);
  const second = first < 0 ? -1 : msg.indexOf(0, first + 1);
  if (first < 0 || second < 0) throw new SaslError('PLAIN message must be authzid NUL authcid NUL password');
  if (msg.indexOf(0, second + 1) >= 0) throw new SaslError('PLAIN message has more than two NUL separators');
  const authzid = decodeUtf8Field(msg.subarray(0, first), 'authorization identity', true);
  const username = decodeUtf8Field(msg.subarray(first + 1, second), 'authentication identity', false);
  const password = decodeUtf8Field(msg.subarray(second + 1), 'password', false);
  return { authzid, username, password };
}
