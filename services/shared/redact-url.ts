/** A connection URL without its password, for logs (Redis, MongoDB). */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@');
}
