/**
 * JSON-RPC errors (JSON-RPC 2.0 and EIP-1474 codes). A handler throws `RpcError` for an error the
 * caller should see; anything else becomes -32603 with no internals leaked.
 */

/** Standard codes. */
export const RpcCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** EIP-1474: invalid input, used for rejected transactions (nonce too low, bad chain id, ...). */
  INVALID_INPUT: -32000,
  /** EIP-1474: resource not found. */
  RESOURCE_NOT_FOUND: -32001,
  /** EIP-1474: the request exceeds a limit. */
  LIMIT_EXCEEDED: -32005,
  /** Polis: no valid API key (HTTP 401): missing, malformed, unknown or revoked. */
  UNAUTHORIZED: -32040,
  /** Polis: the key is valid but may not do this (HTTP 403): another app, a scope, an allowlist. */
  FORBIDDEN: -32043,
  /** Execution reverted (as geth and anvil answer eth_call and eth_estimateGas). */
  EXECUTION_REVERTED: 3,
} as const;

/** An error returned to the caller as a JSON-RPC error object. */
export class RpcError extends Error {
  readonly code: number;
  readonly data: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
  }
}

/** -32602 with a message that names the parameter and what it should be. */
export function invalidParams(message: string): RpcError {
  return new RpcError(RpcCode.INVALID_PARAMS, `invalid params: ${message}`);
}
