/**
 * `anchorAudit` (ADR 0008): an active node anchors the head of its gateway's audit log, signed with
 * its own Ed25519 key; the anchor only moves forward, survives the state codec, and no one else
 * can anchor for the node.
 */
import { bytesToHex, keccak256, utf8ToBytes } from '@polis/core';
import { describe, expect, it } from 'vitest';
import {
  createGenesisState,
  decodeGovTx,
  decodeState,
  encodeGovTx,
  encodeState,
  GovernanceTxErrorCode,
  getAuditAnchor,
  nonceOf,
  ReceiptErrorCode,
  signGovTxEd25519,
  stateRoot,
} from '../src/index.js';
import { ADMINS, Chain, expectOk, genesisOptions, NODES, SYSTEM_CHAIN_ID, thrownCode } from './helpers.js';

const digest = (n: number) => bytesToHex(keccak256(utf8ToBytes(`audit head ${n}`)));
const node0 = NODES[0];
const node1 = NODES[1];

describe('anchorAudit', () => {
  it('default: an active node anchors its log head, and the query reads it', () => {
    const chain = new Chain(createGenesisState(genesisOptions()));
    const before = stateRoot(chain.state);
    const at = chain.ctx();
    const sent = chain.sendNode(node0, { type: 'anchorAudit', node: node0.publicKey, seq: 10, hash: digest(10) });
    expectOk(sent.receipt);
    expect(sent.receipt.events).toEqual([{ type: 'audit-anchored', node: node0.publicKey, seq: 10 }]);
    expect(getAuditAnchor(chain.state, node0.publicKey)).toEqual({
      node: node0.publicKey,
      seq: 10,
      hash: digest(10),
      height: at.height,
      time: at.time,
    });
    expect(getAuditAnchor(chain.state, node1.publicKey)).toBeUndefined();
    expect(bytesToHex(stateRoot(chain.state))).not.toBe(bytesToHex(before));
    // The anchor is part of the committed state: it survives the codec byte for byte.
    const round = decodeState(encodeState(chain.state));
    expect(getAuditAnchor(round, node0.publicKey)).toEqual(getAuditAnchor(chain.state, node0.publicKey));
    expect(bytesToHex(stateRoot(round))).toBe(bytesToHex(stateRoot(chain.state)));
  });

  it('behavior: a later anchor replaces the earlier one', () => {
    const chain = new Chain(createGenesisState(genesisOptions()));
    expectOk(chain.sendNode(node0, { type: 'anchorAudit', node: node0.publicKey, seq: 5, hash: digest(5) }).receipt);
    expectOk(chain.sendNode(node0, { type: 'anchorAudit', node: node0.publicKey, seq: 9, hash: digest(9) }).receipt);
    expect(getAuditAnchor(chain.state, node0.publicKey)?.seq).toBe(9);
    expect(getAuditAnchor(chain.state, node0.publicKey)?.hash).toBe(digest(9));
  });

  it('error: an anchor at or behind the last one is refused (STALE_ANCHOR) and changes nothing', () => {
    const chain = new Chain(createGenesisState(genesisOptions()));
    expectOk(chain.sendNode(node0, { type: 'anchorAudit', node: node0.publicKey, seq: 5, hash: digest(5) }).receipt);
    for (const seq of [5, 4]) {
      const r = chain.sendNode(node0, { type: 'anchorAudit', node: node0.publicKey, seq, hash: digest(seq) });
      expect(r.receipt.status, `seq ${seq}`).toBe('failed');
      expect(r.receipt.error?.code, `seq ${seq}`).toBe(ReceiptErrorCode.STALE_ANCHOR);
    }
    expect(getAuditAnchor(chain.state, node0.publicKey)?.hash).toBe(digest(5));
  });

  it('error: a node that is not active cannot anchor (NODE_NOT_ACTIVE)', () => {
    const chain = new Chain(createGenesisState(genesisOptions()));
    chain.pass({ type: 'suspendNode', publicKey: node1.publicKey }, ADMINS.slice(0, 2));
    const r = chain.sendNode(node1, { type: 'anchorAudit', node: node1.publicKey, seq: 1, hash: digest(1) });
    expect(r.receipt.error?.code).toBe(ReceiptErrorCode.NODE_NOT_ACTIVE);
    expect(getAuditAnchor(chain.state, node1.publicKey)).toBeUndefined();
  });

  it('error: one node cannot anchor for another, nor an account for a node', () => {
    const state = createGenesisState(genesisOptions());
    const body = { type: 'anchorAudit' as const, node: node1.publicKey, seq: 1, hash: digest(1) };
    // Signing with node 0's seed a body naming node 1 is refused before it is signed.
    expect(thrownCode(() => signGovTxEd25519({ chainId: SYSTEM_CHAIN_ID, nonce: 0, body }, node0.seed))).toBe(
      GovernanceTxErrorCode.BAD_SIGNATURE,
    );
    // A signature of node 0 moved onto a body naming node 1 does not verify.
    const own = signGovTxEd25519(
      { chainId: SYSTEM_CHAIN_ID, nonce: nonceOf(state, node0.publicKey), body: { ...body, node: node0.publicKey } },
      node0.seed,
    );
    const moved = { ...own, body };
    expect(thrownCode(() => new Chain(state).apply(decodeGovTx(encodeGovTx(moved))))).toBe(GovernanceTxErrorCode.BAD_SIGNATURE);
  });
});
