// Vite builds frontend/ into frontend/dist, which Flask serves (backend/web/frontend.py).
// `npm run dev` serves it with hot reload and forwards the API to a running `vatio serve`.
import { defineConfig } from "vite";

const backend = process.env.VATIO_WEB_URL ?? "http://127.0.0.1:5000";

export default defineConfig({
  root: __dirname,
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 900,
  },
  server: {
    proxy: {
      "/api": backend,
      "/config.json": backend,
      "/deployments": backend,
      "/socket.io": { target: backend, ws: true },
    },
  },
});
