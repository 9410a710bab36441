// duplicate (RFC 7352): was a message with this tracking value seen within :seconds?
import { fieldValues } from './message.js';
import { SieveRuntimeError, tagNumber, tagString, type ExtensionDef } from './runtime.js';

/** Default period when :seconds is absent: 7 days. */
export const DEFAULT_DUPLICATE_SECONDS = 7 * 86400;
/** Longest period accepted (longer :seconds values are shortened). */
export const MAX_DUPLICATE_SECONDS = 90 * 86400;

export const duplicate: ExtensionDef = {
  capabilities: ['duplicate'],
  tests: {
    duplicate: {
      ext: 'duplicate',
      pos: [],
      tags: { handle: { arg: 'string' }, header: { arg: 'string', group: 'value' }, uniqueid: { arg: 'string', group: 'value' }, seconds: { arg: 'number' }, last: {} },
      async test(node, rt) {
        let value: string | undefined;
        const uid = tagString(node, 'uniqueid');
        if (uid !== undefined) value = rt.str(uid);
        else {
          // RFC 7352 §3.1: by default the Message-ID; :header names another field. A missing
          // field makes the test false.
          const name = rt.str(tagString(node, 'header') ?? 'message-id');
          value = fieldValues(rt, { ...node, tags: new Map() }, [name])[0];
          if (value !== undefined && name.toLowerCase() === 'message-id') value = value.replace(/\s+/g, '');
        }
        if (value === undefined || value === '') return false;
        const handle = rt.str(tagString(node, 'handle') ?? '');
        const seconds = Math.min(tagNumber(node, 'seconds') ?? DEFAULT_DUPLICATE_SECONDS, MAX_DUPLICATE_SECONDS);
        if (seconds < 0) throw new SieveRuntimeError(node, 'duplicate: negative :seconds');
        // The handle separates the trackings of different rules (RFC 7352 §3.2).
        return rt.wait(rt.env.duplicate(`${handle}\u0000${value}`, seconds));
      },
    },
  },
};
