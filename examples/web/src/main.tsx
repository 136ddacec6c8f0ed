import { errorCode } from "@bulkhead/client";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import "./styles.css";

const queries = new QueryClient({
  defaultOptions: {
    // Only an unreachable server or its own failure is worth another try; a refusal stays one
    // (the client has already refreshed the session once on UNAUTHORIZED).
    queries: {
      retry: (failures, error) => failures < 2 && [null, "INTERNAL_SERVER_ERROR", "TIMEOUT"].includes(errorCode(error)),
      refetchOnWindowFocus: false,
    },
  },
});

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queries}>
        <App />
      </QueryClientProvider>
    </StrictMode>,
  );
}
