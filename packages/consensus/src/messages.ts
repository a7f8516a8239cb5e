/**
 * The wire format and signing bytes of consensus messages, in canonical RLP.
 *
 * Signing bytes start with a domain tag and the ledger id, so a vote cannot be replayed as a
 * proposal, nor on another ledger. Decoding is defensive: every field is checked, and a
 * malformed message is a `CodecError`, never a crash.
 */
import {
  CodecError,
  CodecErrorCode,
  ed25519Verify,
  readBytes,
  readList,
  readUint,
  rlpDecode,
  rlpEncode,
  utf8ToBytes,
} from '@polis/core';
import { PROPOSAL_DOMAIN, VOTE_DOMAIN } from './params.js';
import type { ConsensusMessage, Proposal, Vote, VoteType } from './types.js';
import type { ValidatorSet } from './validators.js';

const VOTE_DOMAIN_BYTES = utf8ToBytes(VOTE_DOMAIN);
const PROPOSAL_DOMAIN_BYTES = utf8ToBytes(PROPOSAL_DOMAIN);
const EMPTY = new Uint8Array(0);

/** The largest message we decode; a proposal carries a block, and blocks are bounded well below this. */
export const MESSAGE_BYTES_MAX = 8 * 1024 * 1024;

const TAG_VOTE = 1;
const TAG_PROPOSAL = 2;
const voteTypeToByte = (t: VoteType) => (t === 'prevote' ? 1 : 2);

/** The bytes a validator signs for a vote. */
export function voteSignBytes(ledgerId: Uint8Array, vote: Pick<Vote, 'type' | 'height' | 'round' | 'valueId'>): Uint8Array {
  return rlpEncode([VOTE_DOMAIN_BYTES, ledgerId, voteTypeToByte(vote.type), vote.height, vote.round, vote.valueId ?? EMPTY]);
}

/** The bytes a proposer signs for a proposal; they cover id(v), and through it v. */
export function proposalSignBytes(
  ledgerId: Uint8Array,
  p: Pick<Proposal, 'height' | 'round' | 'polRound' | 'valueId'>,
): Uint8Array {
  // vr is -1 when there is none; the codec has no negative integers, so it is shifted by one.
  return rlpEncode([PROPOSAL_DOMAIN_BYTES, ledgerId, p.height, p.round, p.polRound + 1, p.valueId]);
}

/** Whether a vote is signed by the validator it names, in `set`. */
export function verifyVote(ledgerId: Uint8Array, set: ValidatorSet, vote: Vote): boolean {
  const validator = set.validators[vote.validator];
  if (!validator) return false;
  return ed25519Verify(validator.publicKey, voteSignBytes(ledgerId, vote), vote.signature);
}

/** Whether a proposal is signed by the validator it names, in `set`. */
export function verifyProposal(ledgerId: Uint8Array, set: ValidatorSet, proposal: Proposal): boolean {
  const validator = set.validators[proposal.validator];
  if (!validator) return false;
  return ed25519Verify(validator.publicKey, proposalSignBytes(ledgerId, proposal), proposal.signature);
}

/** Encodes a message for the wire. */
export function encodeMessage(message: ConsensusMessage): Uint8Array {
  if (message.kind === 'vote') {
    const v = message.vote;
    return rlpEncode([TAG_VOTE, voteTypeToByte(v.type), v.height, v.round, v.valueId ?? EMPTY, v.validator, v.signature]);
  }
  const p = message.proposal;
  return rlpEncode([TAG_PROPOSAL, p.height, p.round, p.polRound + 1, p.value, p.valueId, p.validator, p.signature]);
}

function shape(field: string, expected: string): never {
  throw new CodecError({ code: CodecErrorCode.INVALID_SHAPE, field, expected }, `"${field}" should be ${expected}`);
}

/** Decodes a message from the wire; throws a `CodecError` naming the first bad field. */
export function decodeMessage(bytes: Uint8Array): ConsensusMessage {
  const item = rlpDecode(bytes, MESSAGE_BYTES_MAX);
  const fields = readList(item, 'message');
  const tag = readUint(fields[0], 'message.tag');
  if (tag === TAG_VOTE) {
    const [, typeItem, h, r, id, validator, sig] = readList(item, 'vote', 7);
    const typeByte = readUint(typeItem, 'vote.type');
    if (typeByte !== 1 && typeByte !== 2) shape('vote.type', '1 (prevote) or 2 (precommit)');
    const valueId = readBytes(id, 'vote.valueId');
    if (valueId.length !== 0 && valueId.length !== 32) shape('vote.valueId', 'empty (nil) or 32 bytes');
    return {
      kind: 'vote',
      vote: {
        type: typeByte === 1 ? 'prevote' : 'precommit',
        height: readUint(h, 'vote.height'),
        round: readUint(r, 'vote.round'),
        valueId: valueId.length === 0 ? null : valueId,
        validator: readUint(validator, 'vote.validator'),
        signature: readBytes(sig, 'vote.signature', 64),
      },
    };
  }
  if (tag === TAG_PROPOSAL) {
    const [, h, r, pol, value, id, validator, sig] = readList(item, 'proposal', 8);
    return {
      kind: 'proposal',
      proposal: {
        height: readUint(h, 'proposal.height'),
        round: readUint(r, 'proposal.round'),
        polRound: readUint(pol, 'proposal.polRound') - 1,
        value: readBytes(value, 'proposal.value'),
        valueId: readBytes(id, 'proposal.valueId', 32),
        validator: readUint(validator, 'proposal.validator'),
        signature: readBytes(sig, 'proposal.signature', 64),
      },
    };
  }
  return shape('message.tag', `${TAG_VOTE} (vote) or ${TAG_PROPOSAL} (proposal)`);
}
