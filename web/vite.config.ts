import { defineConfig } from 'vite';

// The app is served by `lmdiff serve` (or the mock) at the site root; asset URLs stay relative
// so it also works below a sub-path. `npm run dev` proxies /api to the mock or a real server.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: true,
    assetsInlineLimit: 0,
  },
  server: {
    port: 5173,
    proxy: { '/api': process.env.LMD_API ?? 'http://127.0.0.1:8787' },
  },
});
