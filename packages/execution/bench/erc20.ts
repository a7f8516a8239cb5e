/**
 * The contracts the execution tests and the state-commitment benchmark run, compiled at run time
 * with solc (a devDependency; no network is needed), and the few ABI helpers they need.
 */
import { concatBytes, hexToBytes, keccak256, padBytes, utf8ToBytes } from '@polis/core';
import solc from 'solc';

/** A minimal ERC-20 (EIP-20). Storage: slot 0 totalSupply, slot 1 balanceOf, slot 2 allowance. */
export const ERC20_SOURCE = `// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

contract Token {
    string public constant name = "Polis Bench";
    string public constant symbol = "PB";
    uint8 public constant decimals = 18;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(uint256 supply) {
        totalSupply = supply;
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= value, "allowance");
            allowance[from][msg.sender] = allowed - value;
        }
        _transfer(from, to, value);
        return true;
    }

    function _transfer(address from, address to, uint256 value) internal {
        uint256 balance = balanceOf[from];
        require(balance >= value, "balance");
        unchecked { balanceOf[from] = balance - value; }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
`;

/** Nested calls whose inner frame may revert while the outer one carries on, and contracts that self-destruct. */
export const NESTED_SOURCE = `// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

contract Nested {
    uint256 public a;
    uint256 public b;
    uint256 public c;

    function inner(uint256 v) external {
        b = v;
        this.innermost(v);
        if (v == 13) revert("unlucky");
    }

    function innermost(uint256 v) external {
        c = v + 1;
    }

    function outer(uint256 v) external {
        a = v;
        try this.inner(v) {} catch {}
    }

    function destroyable() external {
        selfdestruct(payable(msg.sender));
    }
}

contract Ephemeral {
    uint256 public x = 5;

    function destroy() external {
        selfdestruct(payable(msg.sender));
    }
}

contract Factory {
    address public last;

    function createAndDestroy() external returns (address) {
        Ephemeral e = new Ephemeral();
        e.destroy();
        last = address(e);
        return address(e);
    }
}
`;

/** A compiled contract. */
export type CompiledContract = { bytecode: Uint8Array; deployedBytecode: Uint8Array };

type SolcOutput = {
  errors?: { severity: string; formattedMessage: string }[];
  contracts: Record<string, Record<string, { evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>;
};

/** Compiles `source` with solc (optimizer on, Cancun EVM) and returns the contract `name`. */
export function compileContract(source: string, name: string): CompiledContract {
  const input = {
    language: 'Solidity',
    sources: { 'contract.sol': { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      outputSelection: { '*': { '*': ['evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`);
  const contract = output.contracts['contract.sol']?.[name];
  if (!contract) throw new Error(`solc produced no contract named ${name}`);
  return {
    bytecode: hexToBytes(`0x${contract.evm.bytecode.object}`),
    deployedBytecode: hexToBytes(`0x${contract.evm.deployedBytecode.object}`),
  };
}

/** The 4-byte selector of a function signature such as `transfer(address,uint256)`. */
export function selector(signature: string): Uint8Array {
  return keccak256(utf8ToBytes(signature)).subarray(0, 4);
}

/** ABI-encodes static arguments: addresses (20 bytes) and unsigned integers, each as one 32-byte word. */
export function encodeArgs(args: (Uint8Array | bigint)[]): Uint8Array {
  return concatBytes(
    ...args.map((a) =>
      typeof a === 'bigint' ? padBytes(hexToBytes(`0x${a.toString(16).padStart(64, '0')}`), 32) : padBytes(a, 32),
    ),
  );
}

/** Calldata for `signature` with static arguments. */
export function encodeCall(signature: string, args: (Uint8Array | bigint)[] = []): Uint8Array {
  return concatBytes(selector(signature), encodeArgs(args));
}

/** The storage slot of `balanceOf[holder]` in `Token`: keccak256(holder . 1) (Solidity mapping layout). */
export function balanceSlot(holder: Uint8Array): Uint8Array {
  return keccak256(concatBytes(padBytes(holder, 32), padBytes(new Uint8Array([1]), 32)));
}
