#!/usr/bin/env node
// The polis command. It runs the compiled dist/, which `npm install` builds (root "prepare").
import { existsSync } from 'node:fs';

const entry = new URL('../dist/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    'polis: the CLI is not built (dist/main.js is missing).\nRun `npm install` (or `npm run build`) at the repository root, then try again.\n',
  );
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
