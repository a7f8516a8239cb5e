/**
 * Proposals and approvals: k-of-n execution, who may propose and approve, expiry, replays of
 * approvals, and threshold or alliance changes while a proposal is open.
 */
import { describe, expect, it } from 'vitest';
import {
  type Action,
  countedApprovals,
  encodeState,
  getProposal,
  listProposals,
  OPEN_PROPOSALS_MAX,
  PROPOSAL_TTL_MS_MAX,
  proposalStatusAt,
  ReceiptErrorCode,
} from '../src/index.js';
import { ADMINS, BLOCK_MS, Chain, DAY_MS, expectOk, STANDARD, STRANGER } from './helpers.js';

const A = ADMINS;
const newPlan: Action = { type: 'setPlan', name: 'gold', limits: STANDARD };

describe('proposals', () => {
  it('default: k-1 approvals do nothing; the k-th executes the action, and the proposal keeps every approval', () => {
    const chain = Chain.genesis({ adminCount: 5, threshold: 3 });
    const proposed = chain.send(A[0], { type: 'propose', action: newPlan, expiresAt: chain.time + DAY_MS });
    expectOk(proposed.receipt);
    expect(proposed.receipt.events).toEqual([
      { type: 'proposal-created', proposalId: 1, action: 'setPlan' },
      { type: 'proposal-approved', proposalId: 1, approvals: 1, threshold: 3 },
    ]);
    const second = chain.send(A[1], { type: 'approve', proposalId: 1 });
    expect(second.receipt).toEqual({
      status: 'ok',
      events: [{ type: 'proposal-approved', proposalId: 1, approvals: 2, threshold: 3 }],
    });
    expect(chain.state.plans.has('gold'), 'two of three approvals must not execute').toBe(false);
    expect(getProposal(chain.state, 1)?.status).toBe('open');

    const third = chain.send(A[2], { type: 'approve', proposalId: 1 });
    expect(third.receipt.events).toEqual([
      { type: 'proposal-approved', proposalId: 1, approvals: 3, threshold: 3 },
      { type: 'plans-changed', name: 'gold' },
      { type: 'proposal-executed', proposalId: 1 },
    ]);
    expect(chain.state.plans.get('gold')).toEqual(STANDARD);
    const p = getProposal(chain.state, 1);
    expect(p?.status).toBe('executed');
    expect(p?.closedAt).toBe(3);
    expect(p?.approvals).toEqual([
      { address: A[0].address, height: 1 },
      { address: A[1].address, height: 2 },
      { address: A[2].address, height: 3 },
    ]);
  });

  it('behavior: with k = 1 a proposal executes at once', () => {
    const chain = Chain.genesis({ threshold: 1 });
    const sent = chain.send(A[0], { type: 'propose', action: newPlan, expiresAt: chain.time + DAY_MS });
    expect(sent.receipt.events.map((e) => e.type)).toEqual([
      'proposal-created',
      'proposal-approved',
      'plans-changed',
      'proposal-executed',
    ]);
    expect(chain.state.plans.has('gold')).toBe(true);
    expect(getProposal(chain.state, 1)?.status).toBe('executed');
  });

  it('behavior: proposal ids are sequential and every proposal stays in the state', () => {
    const chain = Chain.genesis({ threshold: 1 });
    for (const name of ['p-one', 'p-two', 'p-three']) {
      chain.send(A[0], { type: 'propose', action: { type: 'setPlan', name, limits: STANDARD }, expiresAt: chain.time + DAY_MS });
    }
    expect([...chain.state.proposals.keys()]).toEqual([1, 2, 3]);
    expect(chain.state.nextProposalId).toBe(4);
    expect(listProposals(chain.state, chain.time, 'executed').map((p) => p.id)).toEqual([1, 2, 3]);
  });

  it("error: a non-admin's propose and approve are refused (NOT_ADMIN), and only the nonce changes", () => {
    const chain = Chain.genesis();
    const before = chain.state;
    const propose = chain.send(STRANGER, { type: 'propose', action: newPlan, expiresAt: chain.time + DAY_MS });
    expect(propose.receipt.status).toBe('failed');
    expect(propose.receipt.error?.code).toBe(ReceiptErrorCode.NOT_ADMIN);
    expect(propose.receipt.error?.message).toMatch(/only admins may propose/);
    expect(propose.receipt.events).toEqual([]);
    expect(chain.state.proposals.size).toBe(0);
    expect(chain.state.nonces.get(STRANGER.address)).toBe(1);
    expect({ ...chain.state, nonces: before.nonces }).toEqual(before);

    chain.send(A[0], { type: 'propose', action: newPlan, expiresAt: chain.time + DAY_MS });
    const approve = chain.send(STRANGER, { type: 'approve', proposalId: 1 });
    expect(approve.receipt.error?.code).toBe(ReceiptErrorCode.NOT_ADMIN);
    expect(getProposal(chain.state, 1)?.approvals).toHaveLength(1);
  });

  it('error: an admin approving twice is refused (ALREADY_APPROVED); the proposer counts as approving', () => {
    const chain = Chain.genesis({ adminCount: 5, threshold: 3 });
    chain.send(A[0], { type: 'propose', action: newPlan, expiresAt: chain.time + DAY_MS });
    expect(chain.send(A[0], { type: 'approve', proposalId: 1 }).receipt.error?.code).toBe(ReceiptErrorCode.ALREADY_APPROVED);
    expectOk(chain.send(A[1], { type: 'approve', proposalId: 1 }).receipt);
    const again = chain.send(A[1], { type: 'approve', proposalId: 1 });
    expect(again.receipt.error?.code).toBe(ReceiptErrorCode.ALREADY_APPROVED);
    expect(getProposal(chain.state, 1)?.approvals).toHaveLength(2);
    expect(chain.state.plans.has('gold')).toBe(false);
  });

  it('error: an approval after expiresAt is refused (EXPIRED); at expiresAt it still counts', () => {
    const chain = Chain.genesis({ adminCount: 5, threshold: 3 });
    const expiresAt = chain.time + 10 * BLOCK_MS;
    chain.send(A[0], { type: 'propose', action: newPlan, expiresAt });
    chain.time = expiresAt;
    expectOk(chain.send(A[1], { type: 'approve', proposalId: 1 }).receipt);
    expect(proposalStatusAt(getProposal(chain.state, 1) as never, expiresAt)).toBe('open');
    expect(chain.time).toBeGreaterThan(expiresAt);
    const late = chain.send(A[2], { type: 'approve', proposalId: 1 });
    expect(late.receipt.error?.code).toBe(ReceiptErrorCode.EXPIRED);
    expect(late.receipt.error?.message).toMatch(/propose it again/);
    expect(chain.state.plans.has('gold')).toBe(false);
    const p = getProposal(chain.state, 1);
    expect(p?.status, 'the stored status stays open').toBe('open');
    expect(proposalStatusAt(p as never, chain.time)).toBe('expired');
    expect(listProposals(chain.state, chain.time, 'expired').map((x) => x.id)).toEqual([1]);
  });

  it('error: approving an executed proposal is refused (ALREADY_EXECUTED)', () => {
    const chain = Chain.genesis({ threshold: 2 });
    chain.pass(newPlan);
    const late = chain.send(A[2], { type: 'approve', proposalId: 1 });
    expect(late.receipt.error?.code).toBe(ReceiptErrorCode.ALREADY_EXECUTED);
    expect(getProposal(chain.state, 1)?.approvals).toHaveLength(2);
  });

  it('error: approving an unknown proposal is refused (UNKNOWN_PROPOSAL)', () => {
    const chain = Chain.genesis();
    expect(chain.send(A[0], { type: 'approve', proposalId: 42 }).receipt.error?.code).toBe(ReceiptErrorCode.UNKNOWN_PROPOSAL);
  });

  it('error: an expiry not after the block time, or too far ahead, is refused (INVALID_EXPIRY)', () => {
    const chain = Chain.genesis();
    expect(chain.send(A[0], { type: 'propose', action: newPlan, expiresAt: chain.time }).receipt.error?.code).toBe(
      ReceiptErrorCode.INVALID_EXPIRY,
    );
    const far = chain.time + PROPOSAL_TTL_MS_MAX + 1;
    expect(chain.send(A[0], { type: 'propose', action: newPlan, expiresAt: far }).receipt.error?.code).toBe(
      ReceiptErrorCode.INVALID_EXPIRY,
    );
    expect(chain.state.proposals.size).toBe(0);
  });

  it('error: an action that is invalid already when proposed is refused, and no proposal is recorded', () => {
    const chain = Chain.genesis();
    const sent = chain.send(A[0], {
      type: 'propose',
      action: { type: 'approveApp', appId: 'nope' },
      expiresAt: chain.time + DAY_MS,
    });
    expect(sent.receipt.error?.code).toBe(ReceiptErrorCode.UNKNOWN_APP);
    expect(chain.state.proposals.size).toBe(0);
    expect(chain.state.nextProposalId).toBe(1);
  });

  it('behavior: an action that became invalid while open marks the proposal failed, and changes nothing else', () => {
    const chain = Chain.genesis({ threshold: 2 });
    chain.send(A[0], { type: 'propose', action: { type: 'setThreshold', threshold: 3 }, expiresAt: chain.time + DAY_MS });
    // Meanwhile another proposal removes an admin: a threshold of 3 no longer fits 2 admins.
    chain.send(A[0], { type: 'propose', action: { type: 'setThreshold', threshold: 1 }, expiresAt: chain.time + DAY_MS });
    chain.send(A[1], { type: 'approve', proposalId: 2 });
    chain.send(A[0], { type: 'propose', action: { type: 'removeAdmin', address: A[2].address }, expiresAt: chain.time + DAY_MS });
    expect(chain.state.alliance.admins).toHaveLength(2);
    const before = encodeState(chain.state);
    const sent = chain.send(A[1], { type: 'approve', proposalId: 1 });
    expectOk(sent.receipt);
    const p = getProposal(chain.state, 1);
    expect(p?.status).toBe('failed');
    expect(p?.error?.code).toBe(ReceiptErrorCode.INVALID_THRESHOLD);
    expect(sent.receipt.events.at(-1)).toEqual({ type: 'proposal-failed', proposalId: 1, error: p?.error });
    expect(chain.state.alliance).toEqual({ admins: [A[0].address, A[1].address], threshold: 1 });
    // Only proposal 1 and A[1]'s nonce changed.
    const after = encodeState(chain.state);
    expect(after.length).toBe(before.length);
    const changed = after.filter(
      ([k, v], i) => !Buffer.from(v).equals(before[i]?.[1] as Uint8Array) || !Buffer.from(k).equals(before[i]?.[0] as Uint8Array),
    );
    expect(changed.map(([k]) => k[0])).toEqual([0x16, 0x17]);
    expect(chain.send(A[0], { type: 'approve', proposalId: 1 }).receipt.error?.code).toBe(ReceiptErrorCode.ALREADY_EXECUTED);
  });

  it('behavior: raising k while a proposal is open makes it need more approvals', () => {
    const chain = Chain.genesis({ adminCount: 5, threshold: 2 });
    chain.send(A[0], { type: 'propose', action: newPlan, expiresAt: chain.time + DAY_MS });
    chain.pass({ type: 'setThreshold', threshold: 4 }, [A[0], A[1]]);
    expect(chain.state.alliance.threshold).toBe(4);
    chain.send(A[1], { type: 'approve', proposalId: 1 });
    chain.send(A[2], { type: 'approve', proposalId: 1 });
    expect(chain.state.plans.has('gold'), 'three approvals do not reach the new k = 4').toBe(false);
    const fourth = chain.send(A[3], { type: 'approve', proposalId: 1 });
    expect(fourth.receipt.events.map((e) => e.type)).toContain('proposal-executed');
    expect(chain.state.plans.has('gold')).toBe(true);
  });

  it('behavior: approvals of an admin removed since no longer count', () => {
    const chain = Chain.genesis({ adminCount: 4, threshold: 3 });
    chain.send(A[3], { type: 'propose', action: newPlan, expiresAt: chain.time + DAY_MS });
    chain.pass({ type: 'removeAdmin', address: A[3].address }, [A[0], A[1], A[2]]);
    chain.send(A[0], { type: 'approve', proposalId: 1 });
    chain.send(A[1], { type: 'approve', proposalId: 1 });
    const p = getProposal(chain.state, 1);
    expect(p?.approvals).toHaveLength(3);
    expect(countedApprovals(chain.state, p as never)).toBe(2);
    expect(chain.state.plans.has('gold')).toBe(false);
    chain.send(A[2], { type: 'approve', proposalId: 1 });
    expect(chain.state.plans.has('gold')).toBe(true);
  });

  it('error: removing admins so that k > n fails (INVALID_THRESHOLD)', () => {
    const chain = Chain.genesis({ adminCount: 3, threshold: 3 });
    const sent = chain.send(A[0], {
      type: 'propose',
      action: { type: 'removeAdmin', address: A[2].address },
      expiresAt: chain.time + DAY_MS,
    });
    expect(sent.receipt.error?.code).toBe(ReceiptErrorCode.INVALID_THRESHOLD);
    expect(sent.receipt.error?.message).toMatch(/lower the threshold first/);
    expect(chain.state.alliance.admins).toHaveLength(3);
  });

  it(`error: at most ${OPEN_PROPOSALS_MAX} proposals are open at once (LIMIT_REACHED); expired ones do not count`, () => {
    const chain = Chain.genesis({ threshold: 2 });
    const expiresAt = chain.time + DAY_MS;
    for (let i = 0; i < OPEN_PROPOSALS_MAX; i++) {
      expectOk(chain.send(A[i % 3] ?? A[0], { type: 'propose', action: newPlan, expiresAt }).receipt);
    }
    expect(chain.send(A[0], { type: 'propose', action: newPlan, expiresAt }).receipt.error?.code).toBe(
      ReceiptErrorCode.LIMIT_REACHED,
    );
    chain.time = expiresAt + 1;
    expectOk(chain.send(A[0], { type: 'propose', action: newPlan, expiresAt: chain.time + DAY_MS }).receipt);
  });
});
