/**
 * `npm run web`: the API on :3000 (PGlite in .data/, CORS_ORIGINS allowing the app) and the app
 * on :5173 with Vite, together; Ctrl-C stops both.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const apiPort = process.env.PORT ?? "3000";
const appOrigin = "http://localhost:5173";

const children: ChildProcess[] = [
  spawn(process.execPath, ["--import", "tsx", "server/node.ts"], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, PORT: apiPort, CORS_ORIGINS: process.env.CORS_ORIGINS ?? appOrigin },
  }),
  spawn("npx", ["vite"], {
    cwd: fileURLToPath(new URL(".", import.meta.url)),
    stdio: "inherit",
    env: { ...process.env, VITE_API_URL: process.env.VITE_API_URL ?? `http://localhost:${apiPort}/trpc` },
  }),
];

const stop = () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
for (const child of children) {
  child.on("exit", (code) => {
    stop();
    process.exitCode = code ?? 0;
  });
}
console.log(`Bulkhead web app: ${appOrigin} (API on http://localhost:${apiPort})`);
