/** The consensus commit stored with each block: the proposal it came in and its certificate. */

import {
  type CommitCertificate,
  type CommittedBlock,
  decodeCertificate,
  decodeMessage,
  encodeCertificate,
  encodeMessage,
  type Proposal,
} from '@polis/consensus';
import { readBytes, readList, rlpDecode, rlpEncode } from '@polis/core';
import type { ChainStore } from '@polis/ledger';

/** Encodes a proposal and its certificate for `chain.commits`. */
export function encodeCommit(proposal: Proposal, certificate: CommitCertificate): Uint8Array {
  return rlpEncode([encodeMessage({ kind: 'proposal', proposal }), encodeCertificate(certificate)]);
}

/** Decodes a stored commit. */
export function decodeCommit(bytes: Uint8Array): { proposal: Proposal; certificate: CommitCertificate } {
  const [p, c] = readList(rlpDecode(bytes), 'commit', 2);
  const message = decodeMessage(readBytes(p, 'commit.proposal'));
  if (message.kind !== 'proposal') throw new Error('stored commit holds a vote, not a proposal');
  return { proposal: message.proposal, certificate: decodeCertificate(readBytes(c, 'commit.certificate')) };
}

/** A stored block with its commit, as consensus's `BlockStore.get` returns it (none for genesis). */
export function committedBlockAt(chain: ChainStore, height: number): CommittedBlock | undefined {
  const block = chain.block(height);
  const commit = chain.commit(height);
  if (!block || !commit || commit.length === 0) return undefined;
  const { proposal, certificate } = decodeCommit(commit);
  return { height, value: proposal.value, proposal, certificate };
}
