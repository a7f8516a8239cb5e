/**
 * @polis/execution: the EVM runtime of an app ledger, starting with the journaled state overlay
 * that @ethereumjs/evm executes against and the hand-over of each block's writes to the ledger.
 */
export * from './errors.js';
export * from './executor.js';
export { installJumpAnalysisCache, jumpAnalysisStats } from './jumpAnalysis.js';
export * from './services/index.js';
export * from './state/commitBlock.js';
export * from './state/journaledState.js';
