/**
 * @polis/governance: the system ledger's pure part. Its registries (alliance, nodes, apps,
 * participants, API keys, plans, regulators, proposals, nonces, policy), governance transactions
 * and their signing, and the state transition `applyGovTx`. No clock, no I/O, no randomness:
 * a node hosts it and feeds it blocks.
 */
export { runAction } from './actions.js';
export { type ApplyResult, applyGovTx, type CheckedGovTx, checkGovTx } from './apply.js';
export {
  actionCodec,
  addressCodec,
  apiKeyRecordCodec,
  appIdCodec,
  appRecordCodec,
  auditAnchorCodec,
  bodyCodec,
  canonical,
  decodeWith,
  encodeWith,
  type FieldCodec,
  hash32Codec,
  keyLimitsCodec,
  limitsCodec,
  nodeKeyCodec,
  nodeRecordCodec,
  planNameCodec,
  proposalCodec,
  receiptErrorCodec,
  regulatorAppsCodec,
  regulatorGrantCodec,
  roleCodec,
} from './codec.js';
export {
  GovernanceError,
  GovernanceErrorCode,
  type GovernanceErrorType,
  GovernanceTxError,
  GovernanceTxErrorCode,
  type GovernanceTxErrorType,
  ReceiptErrorCode,
  type Refusal,
} from './errors.js';
export { createGenesisState, type GenesisApp, type GenesisNode, type GenesisOptions } from './genesis.js';
export * from './params.js';
export * from './queries.js';
export {
  allianceCodec,
  checkConsistency,
  decodeState,
  encodeState,
  policyCodec,
  StateKeyPrefix,
  type StatePair,
  stateRoot,
  stateRootOfPairs,
} from './state.js';
export {
  decodeGovTx,
  encodeGovTx,
  govTxHash,
  govTxSigningHash,
  signGovTxEd25519,
  signGovTxSecp256k1,
  verifyGovTxSignature,
} from './tx.js';
export * from './types.js';
