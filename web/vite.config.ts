import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Relative asset URLs let one bundle run under any base path and behind a peer's /remote/ proxy.
export default defineConfig({
  base: "./",
  plugins: [react()],
  build: {
    outDir: "../src/hy2scale/web/dist",
    emptyOutDir: true,
    target: "es2020",
    sourcemap: false,
  },
  server: {
    proxy: { "/scale/api": "http://127.0.0.1:5565" },
  },
});
