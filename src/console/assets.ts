// The console's only stylesheet and script, served from its own origin (the CSP allows
// nothing else). Kept in code so the built package needs no copied files. The script only
// adds comfort: copy buttons and the expiry time in the browser's time zone; every page
// works without it.
export const CONSOLE_CSS = `
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0b5cad; --bad: #b42318; --ok: #1a7f37; --bg: #fff; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); background: var(--soft); }
header .brand { font-weight: 700; }
header nav { display: flex; gap: 1rem; flex: 1; }
header form { margin: 0; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.35rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
a { color: var(--accent); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .85rem; color: var(--muted); font-weight: 600; }
td.actions { white-space: nowrap; }
td.actions form, td.actions a { display: inline-flex; gap: .25rem; margin: 0 .25rem .25rem 0; vertical-align: top; }
td.actions input[type=text] { width: 9rem; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
button, .button { font: inherit; padding: .3rem .7rem; border: 1px solid var(--line); border-radius: 6px; background: var(--soft); color: var(--fg); cursor: pointer; text-decoration: none; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { background: var(--bad); border-color: var(--bad); color: #fff; }
form.stack { display: grid; gap: .8rem; max-width: 32rem; }
label { display: grid; gap: .2rem; font-weight: 600; }
label span.hint, .hint { font-weight: 400; color: var(--muted); font-size: .85rem; }
fieldset { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; display: grid; gap: .5rem; }
fieldset label.choice { display: flex; gap: .4rem; align-items: center; font-weight: 400; }
input[type=text], input[type=password], input[type=number], input[type=datetime-local], textarea, select { font: inherit; padding: .35rem .5rem; border: 1px solid var(--line); border-radius: 6px; width: 100%; }
.error { color: var(--bad); font-weight: 400; font-size: .9rem; }
.notice { padding: .6rem .8rem; border-radius: 6px; background: #eaf5ea; border: 1px solid #b7dfb9; margin-bottom: 1rem; }
.alert { padding: .6rem .8rem; border-radius: 6px; background: #fdecea; border: 1px solid #f5c2c0; margin-bottom: 1rem; }
.secret { display: grid; gap: .6rem; padding: 1rem; border: 2px solid var(--accent); border-radius: 8px; max-width: 40rem; }
.secret div { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
.status-active { color: var(--ok); font-weight: 600; }
.status-revoked, .status-expired, .status-disabled, .status-rejected { color: var(--muted); }
.pager { display: flex; gap: 1rem; margin-top: 1rem; }
td.time { white-space: nowrap; }
@media (max-width: 40rem) {
  main { padding: .75rem; }
  table.cards, table.cards tbody { display: block; width: 100%; }
  table.cards thead { display: none; }
  table.cards tr { display: block; border: 1px solid var(--line); border-radius: 8px; margin-bottom: .75rem; padding: .25rem .5rem; }
  table.cards td { display: flex; gap: .5rem; border: 0; padding: .2rem 0; min-width: 0; overflow-wrap: anywhere; }
  table.cards td::before { content: attr(data-label); color: var(--muted); flex: 0 0 7rem; font-size: .85rem; }
  table.cards td.actions { white-space: normal; flex-wrap: wrap; padding-top: .4rem; }
  table.cards td.actions::before { display: none; }
  table.cards td.actions:empty { display: none; }
}
`;

export const CONSOLE_JS = `
document.querySelectorAll('[data-copy]').forEach((button) => {
  button.hidden = false;
  button.addEventListener('click', () => {
    const target = document.getElementById(button.getAttribute('data-copy'));
    if (target) navigator.clipboard.writeText(target.textContent).then(() => { button.textContent = 'Copied'; });
  });
});
document.querySelectorAll('input[data-utc]').forEach((input) => {
  const hidden = document.getElementById(input.getAttribute('data-utc'));
  const zone = document.getElementById(input.getAttribute('data-zone'));
  if (zone) zone.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const sync = () => { hidden.value = input.value ? new Date(input.value).toISOString() : ''; };
  input.addEventListener('input', sync);
  sync();
});
`;
