/** The same PostgreSQL server as `url`, another database (and optionally another user, no password). */
export function databaseUrl(url: string, database: string, user?: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  if (user) {
    parsed.username = user;
    parsed.password = "";
  }
  return parsed.toString();
}
