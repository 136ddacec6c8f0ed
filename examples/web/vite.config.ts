import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run web` serves this on :5173 and the API on :3000 (CORS_ORIGINS allows this origin);
// `npm run build:web` writes dist/, which the API serves at / when WEB_DIST points at it.
export default defineConfig({
  plugins: [react()],
  server: { port: 5173, strictPort: true },
  build: { outDir: "dist", emptyOutDir: true },
});
