/**
 * Copy-paste snippets for an app's endpoint: ethers, viem, Hardhat, Foundry and curl. Each one
 * works as printed against the endpoint (the key is part of the URL, as with Infura or Alchemy).
 */

/** The snippets of one endpoint. */
export type Snippets = { ethers: string; viem: string; hardhat: string; foundry: string; curl: string };

/** Snippets for `rpcUrl` (which holds the API key) on chain `chainId`. */
export function snippetsFor(appId: string, chainId: number, rpcUrl: string): Snippets {
  const name = appId.replace(/[^a-zA-Z0-9]/g, '_');
  return {
    ethers: `import { JsonRpcProvider, Wallet } from 'ethers';

const provider = new JsonRpcProvider('${rpcUrl}', ${chainId});
console.log('block', await provider.getBlockNumber());
// Sign with your own key: fees are zero on Polis ledgers.
const wallet = new Wallet(process.env.PRIVATE_KEY, provider);`,
    viem: `import { createPublicClient, defineChain, http } from 'viem';

const ${name} = defineChain({
  id: ${chainId},
  name: '${appId}',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: ['${rpcUrl}'] } },
});
const client = createPublicClient({ chain: ${name}, transport: http() });
console.log('block', await client.getBlockNumber());`,
    hardhat: `// hardhat.config.js
module.exports = {
  solidity: '0.8.28',
  networks: {
    ${name}: { url: '${rpcUrl}', chainId: ${chainId}, accounts: [process.env.PRIVATE_KEY] },
  },
};
// npx hardhat run scripts/deploy.js --network ${name}`,
    foundry: `cast block-number --rpc-url ${rpcUrl}
forge create src/Counter.sol:Counter --rpc-url ${rpcUrl} --private-key $PRIVATE_KEY --broadcast`,
    curl: `curl -s -X POST ${rpcUrl} -H 'content-type: application/json' \\
  -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}'`,
  };
}
