/**
 * Short-lived objects, several times V8's young generation: enough to set off scavenges. They
 * are kept a moment in a list, so that no compiler can prove them unused and skip allocating them.
 */
export function makeGarbage(): void {
  let recent: object[] = [];
  for (let i = 0; i < 2_000_000; i++) {
    recent.push({ i, tag: 'garbage' });
    if (recent.length === 1024) recent = [];
  }
}
