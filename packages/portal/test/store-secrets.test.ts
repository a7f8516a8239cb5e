/**
 * Sealing the apps' owner keys: AES-256-GCM with the record bound as associated data.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openSecret, PortalErrorCode, sealSecret } from '../src/server/store/index.js';
import { expectCode } from './storeFixture.js';

const KEY = new Uint8Array(randomBytes(32));
const SECRET = new Uint8Array(randomBytes(32));
const AAD = 'app:shop:owner-key';

/** Runs a synchronous call as a promise, for expectCode. */
const later = (fn: () => unknown) => (async () => fn())();

describe('sealSecret / openSecret', () => {
  it('default: round-trips, and never seals twice to the same text', () => {
    const sealed = sealSecret(KEY, SECRET, AAD);
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(openSecret(KEY, sealed, AAD)).toEqual(SECRET);
    expect(sealSecret(KEY, SECRET, AAD)).not.toBe(sealed);
    expect(openSecret(KEY, sealSecret(KEY, new Uint8Array(0), AAD), AAD)).toEqual(new Uint8Array(0));
  });

  it('error: a changed byte, another record, another key or a cut text is SECRET_TAMPERED', async () => {
    const sealed = sealSecret(KEY, SECRET, AAD);
    const body = Buffer.from(sealed.slice(3), 'base64url');
    for (let i = 0; i < body.length; i++) {
      const changed = Buffer.from(body);
      changed[i] = (changed[i] as number) ^ 0x01;
      await expectCode(
        later(() => openSecret(KEY, `v1.${changed.toString('base64url')}`, AAD)),
        PortalErrorCode.SECRET_TAMPERED,
      );
    }
    const cases: [string, string, Uint8Array][] = [
      ['another record', AAD.replace('shop', 'bank'), KEY],
      ['another key', AAD, new Uint8Array(randomBytes(32))],
    ];
    for (const [name, aad, key] of cases) {
      const err = await expectCode(
        later(() => openSecret(key, sealed, aad)),
        PortalErrorCode.SECRET_TAMPERED,
      );
      expect(err.message, name).toMatch(/does not open/);
    }
    for (const text of [sealed.slice(0, 20), `v2.${sealed.slice(3)}`, `${sealed}!`, sealed.slice(0, -1)]) {
      await expectCode(
        later(() => openSecret(KEY, text, AAD)),
        PortalErrorCode.SECRET_TAMPERED,
      );
    }
  });

  it('error: a master key that is not 32 bytes is INVALID_INPUT', async () => {
    await expectCode(
      later(() => sealSecret(new Uint8Array(16), SECRET, AAD)),
      PortalErrorCode.INVALID_INPUT,
    );
    await expectCode(
      later(() => openSecret(new Uint8Array(31), 'v1.AAAA', AAD)),
      PortalErrorCode.INVALID_INPUT,
    );
  });
});
