import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tlsRecordStart } from './listener.js';

test('tlsRecordStart: plaintext before the ClientHello is dropped, the record is kept', () => {
  const hello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05]);
  assert.equal(tlsRecordStart(hello), 0);
  assert.equal(tlsRecordStart(Buffer.concat([Buffer.from('RSET\r\n'), hello])), 6);
  assert.equal(tlsRecordStart(Buffer.from('QUIT\r\n')), 6);
  assert.equal(tlsRecordStart(Buffer.alloc(0)), 0);
  // 0x16 not followed by version major 3 is not a record start; a trailing 0x16 may be one.
  assert.equal(tlsRecordStart(Buffer.from([0x41, 0x16, 0x41, 0x16])), 3);
  assert.equal(tlsRecordStart(Buffer.from([0x16, 0x41, 0x16, 0x03])), 2);
});
