import { describe, expect, it } from 'vitest';
import {
  bytesToHex,
  decryptKeystore,
  ed25519PublicKey,
  encryptKeystore,
  generateEd25519Seed,
  generateSecp256k1PrivateKey,
  isPolisError,
  KeystoreErrorCode,
  privateKeyToAddress,
  SCRYPT_N_LIGHT,
} from '../src/index.js';

// The test vectors of the Web3 Secret Storage Definition (keystore v3): password
// "testpassword", private key 7a28b5ba...fe9d, one file for each KDF.
const PRIVATE_KEY = '0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d';
const PBKDF2_VECTOR = {
  crypto: {
    cipher: 'aes-128-ctr',
    cipherparams: { iv: '6087dab2f9fdbbfaddc31a909735c1e6' },
    ciphertext: '5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46',
    kdf: 'pbkdf2',
    kdfparams: {
      c: 262144,
      dklen: 32,
      prf: 'hmac-sha256',
      salt: 'ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd',
    },
    mac: '517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2',
  },
  id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
  version: 3,
};
const SCRYPT_VECTOR = {
  crypto: {
    cipher: 'aes-128-ctr',
    cipherparams: { iv: '83dbcc02d8ccb40e466191a123791e0e' },
    ciphertext: 'd172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c',
    kdf: 'scrypt',
    kdfparams: { dklen: 32, n: 262144, r: 1, p: 8, salt: 'ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19' },
    mac: '2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097',
  },
  id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
  version: 3,
};

function expectCode(fn: () => unknown, code: KeystoreErrorCode) {
  try {
    fn();
    expect.fail(`should throw ${code}`);
  } catch (err) {
    expect(isPolisError(err, code), `${String(err)}`).toBe(true);
  }
}

describe('keystore v3', () => {
  it('known answer: the PBKDF2 test vector decrypts', () => {
    const { secret, keyType } = decryptKeystore(PBKDF2_VECTOR, 'testpassword');
    expect(bytesToHex(secret)).toBe(PRIVATE_KEY);
    expect(keyType).toBe('secp256k1');
  });

  it('known answer: the scrypt test vector decrypts', () => {
    expect(bytesToHex(decryptKeystore(JSON.stringify(SCRYPT_VECTOR), 'testpassword').secret)).toBe(PRIVATE_KEY);
  });

  it('behavior: a secp256k1 key round-trips and records its address', () => {
    const key = generateSecp256k1PrivateKey();
    const file = encryptKeystore(key, 'hunter2', { scryptN: SCRYPT_N_LIGHT });
    expect(file.address).toBe(bytesToHex(privateKeyToAddress(key)).slice(2));
    expect(JSON.stringify(file)).not.toContain(bytesToHex(key).slice(2));
    expect(decryptKeystore(JSON.parse(JSON.stringify(file)), 'hunter2').secret).toEqual(key);
  });

  it('behavior: an Ed25519 seed round-trips with keyType ed25519', () => {
    const seed = generateEd25519Seed();
    const file = encryptKeystore(seed, 'pw', { keyType: 'ed25519', scryptN: SCRYPT_N_LIGHT });
    expect(file.address).toBeUndefined();
    const out = decryptKeystore(file, 'pw');
    expect(out.keyType).toBe('ed25519');
    expect(ed25519PublicKey(out.secret)).toEqual(ed25519PublicKey(seed));
  });

  it('error: a wrong password says so', () => {
    expectCode(() => decryptKeystore(PBKDF2_VECTOR, 'wrong'), KeystoreErrorCode.WRONG_PASSWORD);
  });

  it('error: a tampered ciphertext fails the MAC', () => {
    const bad = structuredClone(PBKDF2_VECTOR);
    bad.crypto.ciphertext = `0${bad.crypto.ciphertext.slice(1)}`;
    expectCode(() => decryptKeystore(bad, 'testpassword'), KeystoreErrorCode.WRONG_PASSWORD);
  });

  it('error: malformed files name the bad field', () => {
    expectCode(() => decryptKeystore('{not json', 'x'), KeystoreErrorCode.MALFORMED);
    expectCode(() => decryptKeystore({ ...PBKDF2_VECTOR, version: 2 }, 'x'), KeystoreErrorCode.MALFORMED);
    expectCode(
      () => decryptKeystore({ ...PBKDF2_VECTOR, crypto: { ...PBKDF2_VECTOR.crypto, cipher: 'aes-128-cbc' } }, 'x'),
      KeystoreErrorCode.MALFORMED,
    );
    try {
      decryptKeystore({ ...PBKDF2_VECTOR, crypto: { ...PBKDF2_VECTOR.crypto, kdf: 'argon2' } }, 'x');
    } catch (err) {
      expect((err as Error).message).toContain('crypto.kdf');
    }
  });

  it('error: a file that asks for an absurd KDF cost is refused before any work', () => {
    const expensive = structuredClone(SCRYPT_VECTOR);
    expensive.crypto.kdfparams.n = 1 << 24;
    expectCode(() => decryptKeystore(expensive, 'testpassword'), KeystoreErrorCode.KDF_TOO_EXPENSIVE);
  });
});
