/** The console's one stylesheet and its icon, served from the console itself (no third-party request). Readable from 360 px up. */
export const CONSOLE_CSS = `
:root {
  --fg: #1d2329;
  --muted: #5b6670;
  --line: #d9dee3;
  --bg: #f6f7f9;
  --accent: #0b63b6;
  --bad: #b3261e;
  --ok: #1e7d32;
  --warn: #a15c00;
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: .5rem 1.25rem;
  padding: .6rem 1rem;
  background: #fff;
  border-bottom: 1px solid var(--line);
}
header .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
header nav { display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
header nav a { color: var(--muted); text-decoration: none; padding: .2rem 0; }
header nav a[aria-current] { color: var(--accent); border-bottom: 2px solid var(--accent); }
header .who { margin-left: auto; display: flex; gap: .5rem; align-items: center; color: var(--muted); }
main { padding: 1rem; max-width: 84rem; margin: 0 auto; }
h1 small { color: var(--muted); font-weight: 400; font-size: .6em; }
a { color: var(--accent); }
.scroll { overflow-x: auto; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-weight: 600; color: var(--muted); font-size: .85em; }
.mono, code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: .9em; word-break: break-all; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 9px; font-size: .85em; background: #e8ebee; }
.badge.active { background: #dff3e3; color: var(--ok); } .badge.pending, .badge.approved { background: #fff1d6; color: var(--warn); }
.badge.revoked { background: #fbe0de; color: var(--bad); }
.dot { display: inline-block; width: .6rem; height: .6rem; border-radius: 50%; margin-right: .35rem; background: #b8c0c8; }
.dot.online { background: var(--ok); } .dot.offline { background: var(--bad); }
form.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin: 0 0 1rem; }
form.stack {
  display: flex;
  flex-direction: column;
  gap: .5rem;
  margin: 0 0 1rem;
  padding: .75rem;
  background: #fff;
  border: 1px solid var(--line);
  border-radius: 6px;
}
form.stack.danger { border-color: #f0b9b4; }
form.narrow { max-width: 28rem; }
label { display: flex; flex-direction: column; gap: .2rem; font-size: .9em; color: var(--muted); }
form.filters label:has(input[type=checkbox]) { flex-direction: row; align-items: center; }
input, select, button {
  font: inherit;
  padding: .35rem .5rem;
  border: 1px solid var(--line);
  border-radius: 4px;
  background: #fff;
  color: var(--fg);
}
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
.danger button { background: var(--bad); border-color: var(--bad); }
.actions { display: grid; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); gap: 1rem; }
dl.facts {
  display: grid;
  grid-template-columns: max-content 1fr;
  gap: .25rem 1rem;
  background: #fff;
  padding: .75rem;
  border: 1px solid var(--line);
  border-radius: 6px;
}
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.notice { background: #dff3e3; padding: .5rem .75rem; border-radius: 4px; }
.error { color: var(--bad); } p.error { background: #fbe0de; padding: .5rem .75rem; border-radius: 4px; }
nav.pages { display: flex; gap: 1rem; margin: .75rem 0; align-items: center; }
.cards { display: flex; flex-wrap: wrap; gap: .75rem; }
.card {
  background: #fff;
  border: 1px solid var(--line);
  border-radius: 6px;
  padding: .6rem .9rem;
  color: var(--fg);
  text-decoration: none;
  min-width: 8rem;
}
.card .n { font-size: 1.5em; font-weight: 700; } .card.warn { border-color: var(--bad); color: var(--bad); }
svg.plot { width: 100%; height: auto; max-height: 16rem; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
svg.plot rect { fill: var(--accent); } svg.plot .axis { stroke: var(--muted); } svg.plot .label { font-size: 10px; fill: var(--muted); }
@media (max-width: 40rem) { header .who { margin-left: 0; } main { padding: .6rem; } th, td { padding: .35rem .4rem; } }
`;

/** A small icon, so browsers asking for one get it from here (not a 404, not a data: URL the CSP would block). */
export const CONSOLE_ICON =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0b63b6"/>` +
  `<path d="M4 4h8v2H6v2h5v2H6v2H4z" fill="#fff"/></svg>`;
