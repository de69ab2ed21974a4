/**
 * The console's pages as Eta templates, escaped by default: `<%= %>` escapes, and the only raw
 * output (`<%~ %>`) is the layout's body, itself rendered by these templates. No script anywhere
 * (the CSP forbids it); every form posts with the session's CSRF token.
 */
import { Eta } from 'eta';

const layout = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title><%= it.title %> · fleetcert</title>
<link rel="stylesheet" href="/static/console.css">
<link rel="icon" href="/static/icon.svg" type="image/svg+xml">
</head>
<body>
<header>
  <a class="brand" href="/">fleetcert</a>
<% if (it.admin) { %>
  <nav>
    <a href="/"<% if (it.nav === 'devices') { %> aria-current="page"<% } %>>Devices</a>
    <a href="/health"<% if (it.nav === 'health') { %> aria-current="page"<% } %>>Health</a>
    <a href="/tokens"<% if (it.nav === 'tokens') { %> aria-current="page"<% } %>>Tokens</a>
    <a href="/audit"<% if (it.nav === 'audit') { %> aria-current="page"<% } %>>Audit</a>
  </nav>
  <form class="who" method="post" action="/logout">
    <input type="hidden" name="csrf" value="<%= it.csrf %>">
    <span><%= it.admin.name %> (<%= it.admin.role %>)</span> <button type="submit">Log out</button>
  </form>
<% } %>
</header>
<main>
<% if (it.notice) { %><p class="notice" role="status"><%= it.notice %></p><% } %>
<% if (it.error) { %><p class="error" role="alert"><%= it.error %></p><% } %>
<%~ it.body %>
</main>
</body>
</html>
`;

const login = `<% layout('@layout') %>
<h1>Log in</h1>
<p>With an admin certificate (<code>fleetcert admin issue</code>) imported in this browser you are logged in without this form.</p>
<form method="post" action="/login" class="stack narrow">
  <input type="hidden" name="csrf" value="<%= it.csrf %>">
  <label>Name <input name="name" autocomplete="username" required maxlength="32"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="1024"></label>
  <button type="submit">Log in</button>
</form>
`;

const message = `<% layout('@layout') %>
<h1><%= it.heading %></h1>
<p><%= it.text %></p>
<p><a href="<%= it.back %>">Back</a></p>
`;

const devices = `<% layout('@layout') %>
<h1>Devices <small><%= it.total %></small></h1>
<form method="get" action="/" class="filters">
  <label>Search <input name="q" value="<%= it.query.q %>" maxlength="64" placeholder="id or label"></label>
  <label>Status <select name="status">
    <option value="">any</option>
<% for (const s of it.statuses) { %>    <option<% if (s === it.query.status) { %> selected<% } %>><%= s %></option>
<% } %>  </select></label>
  <label>Sort <select name="sort">
<% for (const s of it.sorts) { %>
    <option value="<%= s %>"<% if (s === it.query.sort) { %> selected<% } %>><%= s.replace('_', ' ') %></option>
<% } %>  </select></label>
  <label><input type="checkbox" name="desc" value="1"<% if (it.query.desc) { %> checked<% } %>> descending</label>
  <button type="submit">Show</button>
</form>
<div class="scroll">
<table>
<% /* What is scanned first comes first: a phone shows these without scrolling. */ %>
<thead><tr><th>Device</th>
  <th>Status</th>
  <th>Online</th>
  <th>Expires in</th>
  <th>Last seen</th>
  <th>Model</th>
  <th>Agent</th>
  <th>Labels</th>
  <th>Token</th>
  <th>Serial</th>
  <th>First seen</th></tr></thead>
<tbody>
<% for (const d of it.rows) { %><tr>
  <td><a href="/devices/<%= encodeURIComponent(d.id) %>"><%= d.id %></a></td>
  <td><span class="badge <%= d.status %>"><%= d.status %></span></td>
  <td><span class="dot <%= d.presence %>"></span><%= d.presence %></td>
  <td><%= d.expiresIn %></td>
  <td><%= d.lastSeen %></td>
  <td><%= d.model %></td>
  <td><%= d.agent %></td>
  <td><%= d.labels %></td>
  <td><%= d.token %></td>
  <td class="mono"><%= d.serial %></td>
  <td><%= d.firstSeen %></td>
</tr>
<% } %></tbody>
</table>
</div>
<% if (it.rows.length === 0) { %><p>No devices match.</p><% } %>
<nav class="pages">
<% if (it.prev) { %><a rel="prev" href="<%= it.prev %>">Previous</a><% } %>
  <span>Page <%= it.page %> of <%= it.pages %></span>
<% if (it.next) { %><a rel="next" href="<%= it.next %>">Next</a><% } %>
</nav>
`;

const device = `<% layout('@layout') %>
<h1><%= it.d.id %> <span class="badge <%= it.d.status %>"><%= it.d.status %></span></h1>
<dl class="facts">
  <dt>Online</dt>
  <dd><span class="dot <%= it.presence %>"></span><%= it.presence %>
    <% if (it.d.reportedAt) { %> (reported <%= it.fmt(it.d.reportedAt) %>)<% } %></dd>
  <dt>Token</dt><dd><%= it.d.tokenId || '-' %></dd>
  <dt>Labels</dt><dd><%= it.labels %></dd>
  <dt>Metadata</dt><dd><%= it.metadata %></dd>
  <dt>First seen</dt><dd><%= it.fmt(it.d.firstSeen) %></dd>
  <dt>Last seen</dt><dd><%= it.fmt(it.d.lastSeen) %></dd>
<% if (it.d.pendingKeySha256) { %>  <dt>Waiting key</dt><dd class="mono">sha256 <%= it.d.pendingKeySha256 %></dd>
<% } %>
<% if (it.contested > 0) { %>  <dt>Contested</dt><dd class="error"><%= it.contested %> other key(s) tried to claim this id</dd>
<% } %></dl>

<% if (it.canAct) { %>
<section class="actions">
<% if (it.d.status === 'pending' && it.d.pendingKeySha256) { %>
  <form method="post" action="/devices/<%= encodeURIComponent(it.d.id) %>/approve" class="stack">
    <input type="hidden" name="csrf" value="<%= it.csrf %>">
    <input type="hidden" name="key" value="<%= it.d.pendingKeySha256 %>">
    <p>Compare this key with the one the device logged (keySha256): <code><%= it.d.pendingKeySha256 %></code></p>
    <button type="submit">Approve <%= it.d.id %> with this key</button>
  </form>
<% } %>
<% if (it.d.status === 'active') { %>
  <form method="post" action="/devices/<%= encodeURIComponent(it.d.id) %>/renew" class="stack">
    <input type="hidden" name="csrf" value="<%= it.csrf %>">
    <label>Reason <input name="reason" maxlength="128" value="operator request"></label>
    <button type="submit">Renew <%= it.d.id %> now</button>
  </form>
<% } %>
<% if (it.d.status !== 'revoked') { %>
  <form method="post" action="/devices/<%= encodeURIComponent(it.d.id) %>/revoke" class="stack danger">
    <input type="hidden" name="csrf" value="<%= it.csrf %>">
    <label>Reason <select name="reason">
<% for (const r of it.reasons) { %>      <option><%= r %></option>
<% } %>    </select></label>
    <label>Type the device id <strong><%= it.d.id %></strong> to confirm
      <input name="confirm" required maxlength="64" autocomplete="off"></label>
    <button type="submit">Revoke <%= it.d.id %></button>
  </form>
<% } %>
  <form method="post" action="/devices/<%= encodeURIComponent(it.d.id) %>/reset" class="stack danger">
    <input type="hidden" name="csrf" value="<%= it.csrf %>">
    <p>Reset frees the id: the next enrollment binds it to whatever key it presents (a re-flashed board).</p>
    <label>Type the device id <strong><%= it.d.id %></strong> to confirm
      <input name="confirm" required maxlength="64" autocomplete="off"></label>
    <button type="submit">Reset <%= it.d.id %></button>
  </form>
</section>
<% } %>

<h2>Certificates</h2>
<div class="scroll"><table>
<thead><tr><th>Serial</th><th>Status</th><th>Issued</th><th>Expires</th><th>Revoked</th><th>Key SHA-256</th></tr></thead>
<tbody>
<% for (const c of it.certificates) { %><tr>
  <td class="mono"><%= c.serial %></td>
  <td><%= c.status %></td>
  <td><%= it.fmt(c.issuedAt) %></td>
  <td><%= it.fmt(c.notAfter) %></td>
  <td><%= c.revokedAt ? it.fmt(c.revokedAt) + ' (' + (c.revocationReason || '-') + ')' : '-' %></td>
  <td class="mono"><%= c.keySha256.slice(0, 16) %></td></tr>
<% } %></tbody></table></div>

<h2>Audit trail</h2>
<div class="scroll"><table>
<thead><tr><th>When</th><th>Action</th><th>Code</th><th>Serial</th><th>Who / from</th></tr></thead>
<tbody>
<% for (const a of it.audit) { %><tr>
  <td><%= it.fmt(a.at) %></td>
  <td><%= a.action %></td>
  <td><%= a.code || '' %></td>
  <td class="mono"><%= (a.serial || '').slice(0, 16) %></td>
  <td><%= a.source || '' %></td></tr>
<% } %></tbody></table></div>
`;

const health = `<% layout('@layout') %>
<h1>Expiry and health</h1>
<section class="cards">
<% for (const s of it.states) { %>
  <a class="card" href="/?status=<%= s.status %>"><span class="n"><%= s.count %></span> <%= s.status %></a>
<% } %>  <div class="card"><span class="n"><%= it.online %></span> online</div>
  <div class="card<% if (it.expired > 0) { %> warn<% } %>"><span class="n"><%= it.expired %></span> active but expired</div>
</section>

<h2>Certificates expiring per day, next <%= it.plot.days %> days</h2>
<svg class="plot" viewBox="0 0 <%= it.plot.width %> <%= it.plot.height %>" role="img" aria-label="certificates expiring per day">
  <line x1="30" y1="<%= it.plot.baseline %>" x2="<%= it.plot.width %>" y2="<%= it.plot.baseline %>" class="axis"></line>
  <text x="0" y="12" class="label"><%= it.plot.max %></text>
  <text x="0" y="<%= it.plot.baseline %>" class="label">0</text>
<% for (const b of it.plot.bars) { %>
  <rect x="<%= b.x %>" y="<%= b.y %>" width="<%= b.width %>" height="<%= b.height %>">
    <title><%= b.title %></title></rect>
<% } %><% for (const t of it.plot.ticks) { %>  <text x="<%= t.x %>" y="<%= it.plot.height - 2 %>" class="label"><%= t.label %></text>
<% } %></svg>

<h2>Enrollments and refusals per hour, last 24 hours</h2>
<div class="scroll"><table>
<thead><tr><th>Hour (UTC)</th><th>Issued</th><th>Renewed</th><th>Pending</th><th>Refused</th><th>Refusal codes</th></tr></thead>
<tbody>
<% for (const h of it.hours) { %><tr>
  <td><%= h.hour %></td>
  <td><%= h.issued %></td>
  <td><%= h.renewed %></td>
  <td><%= h.pending %></td>
  <td><%= h.refused %></td>
  <td><%= h.codes %></td></tr>
<% } %></tbody></table></div>
<% if (it.hours.length === 0) { %><p>No enrollments in the last 24 hours.</p><% } %>

<h2>Silent for more than <%= it.silentFor %></h2>
<form method="get" action="/health" class="filters">
  <label>Silent for <input name="silent" value="<%= it.silentFor %>" maxlength="12"></label>
  <button type="submit">Show</button></form>
<ul>
<% for (const s of it.silent) { %>  <li><a href="/devices/<%= encodeURIComponent(s.id) %>"><%= s.id %></a>, last seen <%= s.lastSeen %></li>
<% } %></ul>
<% if (it.silentTotal > it.silent.length) { %><p><a href="/?sort=last_seen">All <%= it.silentTotal %> silent devices</a></p><% } %>
`;

const tokens = `<% layout('@layout') %>
<h1>Tokens</h1>
<div class="scroll"><table>
<thead><tr><th>Id</th><th>Name</th><th>State</th><th>Uses left</th><th>Expires</th><th>Scope</th><th></th></tr></thead>
<tbody>
<% for (const t of it.tokens) { %><tr>
  <td class="mono"><%= t.id %></td>
  <td><%= t.name %></td>
  <td><%= t.state %></td>
  <td><%= t.usesLeft %></td>
  <td><%= t.expires %></td>
  <td><%= t.scope %></td>
  <td><% if (it.canAct && t.state !== 'revoked') { %>
    <form method="post" action="/tokens/<%= encodeURIComponent(t.id) %>/revoke" class="danger">
    <input type="hidden" name="csrf" value="<%= it.csrf %>"><button type="submit">Revoke <%= t.name %></button></form><% } %></td>
</tr>
<% } %></tbody></table></div>
<% if (it.canAct) { %>
<h2>Create a token</h2>
<p>The bootstrap file is downloaded once; its secret is never shown again.</p>
<form method="post" action="/tokens" class="stack narrow">
  <input type="hidden" name="csrf" value="<%= it.csrf %>">
  <label>Name <input name="name" required maxlength="64"></label>
  <label>Uses (empty: unlimited) <input name="uses" inputmode="numeric" maxlength="9"></label>
  <label>Expires in <input name="expires" value="14d" maxlength="12"></label>
  <label>Device id pattern <input name="idPattern" maxlength="64" placeholder="rpi-*"></label>
  <label>Labels for its devices <input name="labels" maxlength="400" placeholder="site=plant3, line=2"></label>
  <label>Approval <select name="approval"><option>auto</option><option>manual</option></select></label>
  <label>Re-enrollment <select name="reenroll"><option>deny</option><option>allow</option></select></label>
  <button type="submit">Create and download fleetcert.json</button>
</form>
<% } %>
`;

const audit = `<% layout('@layout') %>
<h1>Audit log</h1>
<form method="get" action="/audit" class="filters">
  <label>Action <select name="action"><option value="">any</option>
<% for (const a of it.actions) { %>    <option<% if (a === it.filter.action) { %> selected<% } %>><%= a %></option>
<% } %>  </select></label>
  <label>Device <input name="device" value="<%= it.filter.device %>" maxlength="64"></label>
  <button type="submit">Show</button>
</form>
<div class="scroll"><table>
<thead><tr><th>#</th>
  <th>When</th>
  <th>Action</th>
  <th>Device</th>
  <th>Token</th>
  <th>Code</th>
  <th>Serial</th>
  <th>Who / from</th>
  <th>Detail</th></tr></thead>
<tbody>
<% for (const a of it.entries) { %><tr><td><%= a.seq %></td><td><%= it.fmt(a.at) %></td><td><%= a.action %></td>
  <td><% if (a.deviceId) { %><a href="/devices/<%= encodeURIComponent(a.deviceId) %>"><%= a.deviceId %></a><% } %></td>
  <td class="mono"><%= a.tokenId || '' %></td>
  <td><%= a.code || '' %></td>
  <td class="mono"><%= (a.serial || '').slice(0, 16) %></td>
  <td><%= a.source || '' %></td>
  <td class="mono"><%= a.detail ? JSON.stringify(a.detail).slice(0, 120) : '' %></td></tr>
<% } %></tbody></table></div>
<% if (it.older) { %><nav class="pages"><a rel="next" href="<%= it.older %>">Older</a></nav><% } %>
`;

export const TEMPLATE_NAMES = ['login', 'message', 'devices', 'device', 'health', 'tokens', 'audit'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

/** An Eta instance with the console's templates loaded; autoEscape is on (and asserted, so no config change turns it off unnoticed). */
export function consoleTemplates(): Eta {
  const eta = new Eta({ autoEscape: true, autoTrim: false, cache: true });
  if (!eta.config.autoEscape) throw new Error('the console templates must escape by default');
  const sources: Record<TemplateName | 'layout', string> = { layout, login, message, devices, device, health, tokens, audit };
  for (const [name, source] of Object.entries(sources)) eta.loadTemplate(`@${name}`, source);
  return eta;
}
