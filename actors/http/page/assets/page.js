// The cluster page's script (served as a file: the CSP allows no inline script). It asks for an admin
// credential, keeps it in this module's memory only, and reads the node's event stream with fetch()
// and an Authorization header (EventSource cannot send one), parsing the text/event-stream format
// itself. Every value shown comes from Redis, which is untrusted: it is written with textContent and
// attributes, never as markup.

const $ = (id) => document.getElementById(id);

/** The bearer credential; null when not logged in. Never stored, never put in a URL. */
let token = null;
let abort = null;
let retryTimer = null;
/** Per section, the JSON it was last drawn from: unchanged sections are not redrawn. */
const drawn = new Map();

function setConn(text, cls) {
  const c = $('conn');
  c.textContent = text;
  c.className = `conn ${cls}`;
}

function td(tr, text, key, num) {
  const cell = document.createElement('td');
  cell.textContent = String(text);
  if (key) cell.dataset.k = key;
  if (num) cell.className = 'num';
  tr.append(cell);
  return cell;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function changed(section, value) {
  const json = JSON.stringify(value);
  if (drawn.get(section) === json) return false;
  drawn.set(section, json);
  return true;
}

const secs = (ms) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);
const rate = (n) => (n ?? 0).toFixed(1);

function sumTasks(stats) {
  let done = 0;
  let failed = 0;
  for (const c of Object.values(stats?.tasks ?? {})) {
    done += c.done;
    failed += c.failed;
  }
  return { done, failed };
}

function drawNodes(view) {
  const all = [...view.nodes, ...view.offlineNodes];
  const rows = all.map((n) => {
    const tr = document.createElement('tr');
    tr.dataset.node = n.id;
    tr.dataset.state = n.state;
    tr.className = n.state;
    td(tr, n.id, 'id');
    td(tr, n.state, 'state').classList.add('state');
    td(tr, n.partitions, 'partitions', true);
    td(tr, n.state === 'alive' ? `expires in ${secs(n.expiresInMs ?? 0)}` : n.seenAgoMs === null ? '-' : `last seen ${secs(n.seenAgoMs)} ago`, 'heartbeat');
    const t = sumTasks(n.stats);
    const e = n.stats?.enclave;
    td(tr, n.stats ? t.done : '-', 'done', true);
    td(tr, n.stats ? t.failed : '-', 'failed', true);
    td(tr, e ? (e.loaded ? 'loaded' : 'not loaded') : '-', 'enclave');
    td(tr, e ? e.instances : '-', 'instances', true);
    td(tr, e ? e.calls : '-', 'calls', true);
    td(tr, e ? e.timeouts : '-', 'timeouts', true);
    td(tr, e ? e.restarts : '-', 'restarts', true);
    return tr;
  });
  fill($('nodes').tBodies[0], rows);
}

function drawPartitions(view) {
  const dead = new Set(view.offlineNodes.map((n) => n.id));
  const owners = [...new Set(view.partitions.map((p) => p.owner).filter((o) => o !== null))].sort();
  const cls = (o) => (dead.has(o) ? 'o-dead' : `o${owners.indexOf(o) % 8}`);
  const owned = view.partitions.filter((p) => p.owner !== null).length;
  $('partitions-summary').textContent = `${owned} of ${view.partitions.length} owned`;
  fill(
    $('partitions'),
    view.partitions.map((p) => {
      const d = document.createElement('div');
      d.className = `cell ${p.owner === null ? 'unowned' : cls(p.owner)}`;
      d.textContent = String(p.partition);
      d.dataset.partition = String(p.partition);
      d.dataset.owner = p.owner ?? '';
      d.title = p.owner === null ? `partition ${p.partition}: unowned` : `partition ${p.partition}: ${p.owner} (epoch ${p.epoch})`;
      return d;
    }),
  );
  fill(
    $('owners'),
    owners.map((o) => {
      const li = document.createElement('li');
      li.dataset.owner = o;
      const sw = document.createElement('span');
      sw.className = `swatch ${cls(o)}`;
      const n = view.partitions.filter((p) => p.owner === o).length;
      li.append(sw, `${o}: ${n}`);
      return li;
    }),
  );
}

function drawTasks(view, throughput) {
  const types = [...new Set([...Object.keys(view.tasks), ...Object.keys(throughput)])].sort();
  fill(
    $('tasks').tBodies[0],
    types.map((t) => {
      const tr = document.createElement('tr');
      tr.dataset.type = t;
      td(tr, t, 'type');
      td(tr, rate(throughput[t]?.done), 'doneRate', true);
      td(tr, rate(throughput[t]?.failed), 'failedRate', true);
      td(tr, view.tasks[t]?.done ?? 0, 'done', true);
      td(tr, view.tasks[t]?.failed ?? 0, 'failed', true);
      return tr;
    }),
  );
}

function drawQueues(view) {
  const rows = ['critical', 'default', 'low'].map((p) => {
    const tr = document.createElement('tr');
    tr.dataset.priority = p;
    td(tr, p, 'priority');
    td(tr, view.queues[p].waiting, 'waiting', true);
    td(tr, view.queues[p].pending, 'pending', true);
    return tr;
  });
  const sched = document.createElement('tr');
  sched.dataset.priority = 'scheduled';
  td(sched, 'scheduled (delayed, retries)', 'priority');
  td(sched, view.queues.scheduled, 'waiting', true);
  td(sched, '', 'pending');
  fill($('queues').tBodies[0], [...rows, sched]);
}

function drawDead(view) {
  const shown = view.deadLetterList.length;
  $('dead-count').textContent = view.deadLetters > shown ? `${view.deadLetters} (oldest ${shown} shown)` : String(view.deadLetters);
  $('dead-count').dataset.count = String(view.deadLetters);
  fill(
    $('dead').tBodies[0],
    view.deadLetterList.map((d) => {
      const tr = document.createElement('tr');
      tr.dataset.id = d.id;
      td(tr, d.id, 'id');
      td(tr, d.type, 'type');
      td(tr, d.key, 'key');
      td(tr, d.attempts, 'attempts', true);
      td(tr, d.error ? `${d.error.code}: ${d.error.message}` : '-', 'error');
      td(tr, new Date(d.archivedAt).toISOString(), 'archived');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'requeue';
      b.textContent = 'requeue';
      b.addEventListener('click', () => void requeue(d.id, b));
      td(tr, '', 'action').append(b);
      return tr;
    }),
  );
}

function drawWallets(view) {
  $('wallet-count').textContent = `${view.wallets.live} connected`;
  $('wallet-count').dataset.count = String(view.wallets.live);
  fill(
    $('wallets').tBodies[0],
    view.wallets.list.map((w) => {
      const tr = document.createElement('tr');
      tr.dataset.conn = w.id;
      td(tr, w.id, 'id');
      td(tr, w.kind, 'kind');
      td(tr, w.account, 'account');
      td(tr, w.node, 'node');
      const cell = td(tr, '', 'addresses');
      for (const a of w.addresses) {
        const s = document.createElement('span');
        s.className = 'addr';
        s.textContent = a;
        cell.append(s);
      }
      return tr;
    }),
  );
}

function render(feed) {
  const v = feed.view;
  drawNodes(v);
  if (changed('partitions', [v.partitions, v.offlineNodes.map((n) => n.id)])) drawPartitions(v);
  if (changed('tasks', [v.tasks, feed.throughput])) drawTasks(v, feed.throughput);
  if (changed('queues', v.queues)) drawQueues(v);
  if (changed('dead', [v.deadLetters, v.deadLetterList])) drawDead(v);
  if (changed('wallets', v.wallets)) drawWallets(v);
  $('footer').textContent = `served by node ${feed.servedBy}; read at ${new Date(v.at).toISOString()} (Redis clock)`;
  setConn('live', 'on');
}

async function requeue(id, button) {
  button.disabled = true;
  const status = $('requeue-status');
  try {
    const res = await fetch(`/cluster/dead-letters/${encodeURIComponent(id)}/requeue`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
    const body = await res.json().catch(() => null);
    status.textContent = res.ok ? `requeued ${id}` : `requeue of ${id} refused: ${body?.error?.code ?? res.status} ${body?.error?.message ?? ''}`;
    status.dataset.result = res.ok ? 'ok' : 'refused';
  } catch (e) {
    status.textContent = `requeue of ${id} failed: ${e instanceof Error ? e.message : String(e)}`;
    status.dataset.result = 'failed';
  } finally {
    button.disabled = false;
  }
}

/** One text/event-stream block: its event name and its data lines joined. */
function dispatch(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? '' : line.slice(c + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return;
  let obj;
  try {
    obj = JSON.parse(data.join('\n'));
  } catch {
    return;
  }
  if (event === 'view') render(obj);
  else if (event === 'problem') setConn(`problem: ${obj.message}`, 'warn');
  else if (event === 'auth') loggedOut(obj.message);
}

function loggedOut(message) {
  token = null;
  abort?.abort();
  clearTimeout(retryTimer);
  drawn.clear();
  $('board').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('login-error').hidden = false;
  setConn('not connected', 'off');
}

function retry() {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => void connect(), 2000);
}

async function connect() {
  if (token === null) return;
  abort?.abort();
  const ac = new AbortController();
  abort = ac;
  setConn('connecting…', 'wait');
  let res;
  try {
    res = await fetch('/cluster/events', { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, cache: 'no-store', signal: ac.signal });
  } catch {
    if (!ac.signal.aborted) {
      setConn('disconnected, retrying', 'off');
      retry();
    }
    return;
  }
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    const message = body?.error?.message ?? `${res.status} ${res.statusText}`;
    if (res.status === 401 || res.status === 403) loggedOut(message);
    else {
      setConn(`refused: ${message}`, 'warn');
      retry();
    }
    return;
  }
  $('login').hidden = true;
  $('login-error').hidden = true;
  $('board').hidden = false;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value.replace(/\r\n?/g, '\n');
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        dispatch(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
    }
  } catch {
    // the stream broke (node stopped, network): reconnect below unless we aborted it
  }
  if (!ac.signal.aborted && token !== null) {
    setConn('disconnected, retrying', 'off');
    retry();
  }
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('token');
  const t = input.value.trim();
  input.value = '';
  if (t === '') return;
  token = t;
  void connect();
});
