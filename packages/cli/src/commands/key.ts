/** `polis key new|show`: create and inspect key files encrypted at rest (keystore v3). */
import { existsSync, writeFileSync } from 'node:fs';
import {
  bytesToHex,
  decryptKeystore,
  ed25519PublicKey,
  encryptKeystore,
  generateEd25519Seed,
  generateSecp256k1PrivateKey,
  type KeyType,
  privateKeyToAddress,
  SCRYPT_N_LIGHT,
  SCRYPT_N_STANDARD,
  toChecksumAddress,
} from '@polis/core';
import { type Command, Option } from 'commander';
import { CliError, CliErrorCode, readPassword, readTextFile } from '../password.js';

type Print = (line: string) => void;

/** The public identity of a key: its type and public key, plus the address for secp256k1. */
export function describeKey(secret: Uint8Array, keyType: KeyType): Record<string, string> {
  if (keyType === 'ed25519') return { keyType, publicKey: bytesToHex(ed25519PublicKey(secret)) };
  return { keyType, address: toChecksumAddress(privateKeyToAddress(secret)) };
}

/** Registers `key new` and `key show` on `program`. */
export function registerKeyCommands(program: Command, print: Print): void {
  const key = program.command('key').description('create and inspect encrypted key files (Ethereum keystore v3)');

  key
    .command('new')
    .description('create a new key and write it encrypted to a file')
    .addOption(new Option('--type <type>', 'key type').choices(['ed25519', 'secp256k1']).default('secp256k1'))
    .requiredOption('--out <file>', 'where to write the key file (it must not exist)')
    .option('--password-file <file>', 'read the password from this file (default: $POLIS_PASSWORD)')
    .option('--light', 'use a cheap scrypt cost, for throw-away dev keys only')
    .action((opts: { type: KeyType; out: string; passwordFile?: string; light?: boolean }) => {
      if (existsSync(opts.out)) {
        throw new CliError({ code: CliErrorCode.FILE_EXISTS, path: opts.out }, `${opts.out} already exists`, {
          hint: 'Choose another --out path; polis never overwrites a key file',
        });
      }
      const password = readPassword(opts.passwordFile);
      const secret = opts.type === 'ed25519' ? generateEd25519Seed() : generateSecp256k1PrivateKey();
      const file = encryptKeystore(secret, password, {
        keyType: opts.type,
        scryptN: opts.light ? SCRYPT_N_LIGHT : SCRYPT_N_STANDARD,
      });
      // "wx" refuses to follow a file created since the check above; 0600 keeps it private.
      writeFileSync(opts.out, `${JSON.stringify(file, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
      print(JSON.stringify({ file: opts.out, ...describeKey(secret, opts.type) }));
    });

  key
    .command('show')
    .description('decrypt a key file and print its public identity (never the secret)')
    .argument('<file>', 'the key file')
    .option('--password-file <file>', 'read the password from this file (default: $POLIS_PASSWORD)')
    .action((file: string, opts: { passwordFile?: string }) => {
      const text = readTextFile(file);
      const { secret, keyType } = decryptKeystore(text, readPassword(opts.passwordFile));
      print(JSON.stringify({ file, ...describeKey(secret, keyType) }));
    });
}
