/**
 * The one redaction of credentials in text, shared by logs, progress lines, error messages and alerts: the
 * password of every `scheme://user:password@host` in `text` becomes `***` (the user stays, so a wrong account is
 * still diagnosable).
 */
export function redactUrls(text: string): string {
  // Greedy up to the last '@' before the path (or the end of the URL): an unencoded '@' in a password must not
  // leak its tail. Quotes, backslashes and whitespace end a URL, so JSON and prose around it are left alone.
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'<>\\]*)@/gi, (_all, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return `${scheme}${colon < 0 ? userinfo : `${userinfo.slice(0, colon)}:***`}@`;
  });
}
