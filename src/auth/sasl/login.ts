// SASL LOGIN (draft-murchison-sasl-login): "Username:" and "Password:" challenges, one answer each.
// Clients may send the username as the initial response (AUTH LOGIN <base64 user>).
import { SaslError, type SaslMechanism } from '../types.js';
import { decodeUtf8Field } from './utf8.js';

const USERNAME = Buffer.from('Username:');
const PASSWORD = Buffer.from('Password:');

export function createLogin(): SaslMechanism {
  let state: 'start' | 'username' | 'password' | 'done' = 'start';
  let username = '';
  return {
    name: 'LOGIN',
    step(response) {
      switch (state) {
        case 'start':
          if (response === null) {
            state = 'username';
            return { challenge: USERNAME };
          }
          username = decodeUtf8Field(response, 'username', false);
          state = 'password';
          return { challenge: PASSWORD };
        case 'username':
          if (response === null) throw new SaslError('LOGIN expects the username');
          username = decodeUtf8Field(response, 'username', false);
          state = 'password';
          return { challenge: PASSWORD };
        case 'password': {
          if (response === null) throw new SaslError('LOGIN expects the password');
          const password = decodeUtf8Field(response, 'password', true);
          state = 'done';
          return { credentials: { username, password, authzid: '' } };
        }
        default:
          throw new SaslError('LOGIN exchange already complete');
      }
    },
  };
}
