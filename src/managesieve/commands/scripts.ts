// What the script commands share: store errors become NO with their RFC 5804 §1.3 response code.
import { StoreError } from '../../store/types.js';
import { MsError } from './common.js';

/** Runs a store call; a StoreError becomes the NO the client is owed. */
export async function storeCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    switch (err.code) {
      case 'not-found':
        // RFC 5804 §1.3: NONEXISTENT: the script does not exist
        throw new MsError(err.message, 'NONEXISTENT');
      case 'exists':
        // RFC 5804 §1.3: ALREADYEXISTS: RENAMESCRIPT onto an existing name
        throw new MsError(err.message, 'ALREADYEXISTS');
      case 'forbidden':
        // RFC 5804 §1.3: ACTIVE: the active script cannot be deleted
        throw new MsError(err.message, 'ACTIVE');
      case 'over-quota':
        // RFC 5804 §1.3: QUOTA/MAXSCRIPTS (the size is checked before the store is asked)
        throw new MsError(err.message, 'QUOTA/MAXSCRIPTS');
      default:
        throw new MsError(err.message);
    }
  }
}
