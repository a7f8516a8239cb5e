/** Verifying a state proof of either commitment against a state root. */
import { verifyEthAccountProof } from './mptProof.js';
import { verifyPolisAccountProof } from './smtProof.js';
import type { ProofVerification, StateProof } from './types.js';

/** Checks `proof` against `stateRoot` with the verifier of the commitment that produced it. No I/O. */
export async function verifyStateProof(stateRoot: Uint8Array, proof: StateProof): Promise<ProofVerification> {
  return proof.kind === 'mpt' ? verifyEthAccountProof(stateRoot, proof.proof) : verifyPolisAccountProof(stateRoot, proof.proof);
}
