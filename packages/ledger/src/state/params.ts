/** Constants of the state layer. */
import { hexToBytes } from '@polis/core';

/** Length of an address in bytes. */
export const ADDRESS_LENGTH = 20;
/** Length of a storage slot key, a code hash and a root in bytes. */
export const WORD_LENGTH = 32;
/** keccak-256 of the empty string: the code hash of an account without code. */
export const KECCAK256_NULL = hexToBytes('0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');
/** keccak-256 of RLP(""): the root of an empty Merkle-Patricia trie (Yellow Paper, appendix D). */
export const EMPTY_TRIE_ROOT = hexToBytes('0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421');
/** The root of an empty binary sparse Merkle tree: 32 zero bytes. */
export const EMPTY_SMT_ROOT = new Uint8Array(WORD_LENGTH);
/** The state root of the `none` commitment, which commits to nothing. */
export const NONE_ROOT = new Uint8Array(WORD_LENGTH);
