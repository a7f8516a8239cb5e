// Type declarations for the native entry points we import directly (see hash.ts and secp256k1.ts).
declare module 'secp256k1/bindings.js' {
  import * as secp256k1 from 'secp256k1';

  const native: typeof secp256k1;
  export default native;
}
