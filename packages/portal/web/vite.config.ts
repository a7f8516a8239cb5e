import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig } from 'vite';

// The portal's front end. `vite build` writes dist/web, which the portal's backend serves; in
// development `vite` proxies /api to a running backend (PORTAL_API, default 127.0.0.1:3000).
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  // Workspace packages from their TypeScript sources; @polis/core then picks its browser build.
  resolve: { conditions: ['polis-source', ...defaultClientConditions] },
  build: { outDir: '../dist/web', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 2048 },
  server: { proxy: { '/api': { target: process.env.PORTAL_API ?? 'http://127.0.0.1:3000', ws: true } } },
});
