// Vigil web UI: plain browser JavaScript, no build step, no third-party code.
'use strict';

// Turbo colormap (Mikhailov 2019), the same anchors the Go reports use:
// every 16th entry of the 256-entry table plus the last one.
const TURBO = [[48,18,59],[64,64,162],[70,107,227],[66,148,255],[40,188,235],[24,221,194],[50,242,152],
  [109,254,98],[164,252,60],[205,236,52],[238,207,58],[253,172,52],[251,126,33],[235,80,14],[208,47,5],
  [169,22,1],[122,4,3]];

function turbo(v) {
  if (!(v > 0)) v = 0;
  if (v > 1) v = 1;
  const idx = v * 255, k = Math.min(Math.floor(idx / 16), 15);
  const lo = 16 * k, hi = k === 15 ? 255 : 16 * (k + 1), f = (idx - lo) / (hi - lo);
  const a = TURBO[k], b = TURBO[k + 1];
  return [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])];
}

const $ = (sel) => document.querySelector(sel);
const state = { models: [], token: sessionStorage.getItem('vigil_token') || '', cards: [] };

function status(msg) { $('#status').textContent = msg || ''; }

async function api(path, opts = {}) {
  opts.headers = Object.assign({}, opts.headers || {});
  if (state.token) opts.headers['Authorization'] = 'Bearer ' + state.token;
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(path, opts);
    if (res.status === 401) {
      $('#tokenform').hidden = false;
      throw new Error('a token is needed: enter it above');
    }
    if (res.status === 429 && attempt < 8) {
      // the server is full: wait as long as it asks, then try again
      const wait = Math.max(1, parseInt(res.headers.get('Retry-After') || '1', 10));
      status('server busy, retrying in ' + wait + ' s');
      await new Promise((r) => setTimeout(r, wait * 1000));
      continue;
    }
    status('');
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      const e = body && body.error ? body.error : { code: 'http_' + res.status, message: res.statusText };
      throw new Error(e.code + ': ' + e.message);
    }
    return body;
  }
}

function fmt(v, digits = 4) {
  if (v === null || v === undefined) return '–';
  if (typeof v !== 'number') return String(v);
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toPrecision(digits);
}

function currentModel() { return state.models.find((m) => m.name === $('#model').value); }

async function loadModels() {
  let list;
  try {
    list = await api('/v1/models');
  } catch (e) {
    status(String(e.message));
    if (/loading/.test(e.message)) setTimeout(loadModels, 1000);
    return;
  }
  state.models = list.models;
  const sel = $('#model'), keep = sel.value;
  sel.textContent = '';
  for (const m of state.models) {
    const o = document.createElement('option');
    o.value = m.name;
    o.textContent = m.name + ' (' + m.method + ')';
    sel.appendChild(o);
  }
  if (keep && state.models.some((m) => m.name === keep)) sel.value = keep;
  const tb = $('#models tbody');
  tb.textContent = '';
  for (const m of state.models) {
    const tr = document.createElement('tr');
    tr.dataset.name = m.name;
    for (const v of [m.name, m.method, m.backbone || '–', fmt(m.threshold), fmt(m.alpha, 3),
      (m.created || '').replace('T', ' ').slice(0, 16), m.vigil_version]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.appendChild(td);
    }
    if (m.reload_error) tr.title = 'reload failed: ' + m.reload_error;
    tr.addEventListener('click', () => { sel.value = m.name; modelChanged(); });
    tb.appendChild(tr);
  }
  if (!state.models.length) status('no models in the models folder');
  modelChanged();
}

function modelChanged() {
  const m = currentModel();
  for (const tr of document.querySelectorAll('#models tbody tr')) tr.classList.toggle('selected', !!m && tr.dataset.name === m.name);
  if (!m) { $('#modelinfo').textContent = ''; return; }
  $('#modelinfo').textContent = 'threshold ' + fmt(m.threshold) + ' at α = ' + fmt(m.alpha, 3) + (m.backbone ? ', ' + m.backbone : '');
  // the slider starts at the model's pixel threshold (mid-scale on its colour range)
  let pos = 500;
  if (m.map_range && m.pixel_threshold !== null) {
    pos = Math.round(1000 * (m.pixel_threshold - m.map_range[0]) / (m.map_range[1] - m.map_range[0]));
  }
  $('#thr').value = String(Math.min(1000, Math.max(0, pos)));
  redrawAll();
}

async function loadReports() {
  let list;
  try { list = await api('/v1/reports'); } catch (e) { return; }
  const ul = $('#reports');
  ul.textContent = '';
  for (const r of list.reports) {
    const li = document.createElement('li'), a = document.createElement('a');
    a.href = r.url;
    a.target = '_blank';
    a.rel = 'noopener';
    a.textContent = r.title;
    li.appendChild(a);
    if (r.metrics && typeof r.metrics.image_auroc === 'number') li.append(' — image AUROC ' + fmt(r.metrics.image_auroc));
    ul.appendChild(li);
  }
  if (!list.reports.length) ul.innerHTML = '<li class="hint">none found</li>';
}

function thresholdPos() { return Number($('#thr').value) / 1000; }
function opacity() { return Number($('#opacity').value) / 100; }

function drawColorbar() {
  const c = $('#colorbar'), g = c.getContext('2d'), w = c.width, barH = 14;
  g.clearRect(0, 0, w, c.height);
  const img = g.createImageData(w, barH);
  for (let x = 0; x < w; x++) {
    const [r, gg, b] = turbo(x / (w - 1));
    for (let y = 0; y < barH; y++) {
      const i = 4 * (y * w + x);
      img.data[i] = r; img.data[i + 1] = gg; img.data[i + 2] = b; img.data[i + 3] = 255;
    }
  }
  g.putImageData(img, 0, 0);
  const tx = Math.round(thresholdPos() * (w - 1));
  g.fillStyle = '#000';
  g.fillRect(tx - 1, 0, 3, barH + 3);
  const m = currentModel();
  g.font = '11px system-ui, sans-serif';
  g.textBaseline = 'top';
  let lo = 'image min', hi = 'image max', t = 'threshold';
  if (m && m.map_range) {
    const span = m.map_range[1] - m.map_range[0];
    lo = fmt(m.map_range[0], 3); hi = fmt(m.map_range[1], 3); t = fmt(m.map_range[0] + thresholdPos() * span, 3);
  }
  $('#thrval').textContent = t;
  g.textAlign = 'left'; g.fillText(lo, 0, barH + 4);
  g.textAlign = 'right'; g.fillText(hi, w, barH + 4);
  g.textAlign = 'center'; g.fillText(t, Math.min(w - 30, Math.max(30, tx)), barH + 4);
}

// redraw paints a card: the image, the heatmap blended at the chosen
// opacity (fainter below the threshold), and the predicted region (map >=
// threshold) outlined in white.
function redraw(card) {
  const c = card.canvas, g = c.getContext('2d');
  g.drawImage(card.img, 0, 0, c.width, c.height);
  if (!card.map) return;
  const out = g.getImageData(0, 0, c.width, c.height), d = out.data, m = card.map, w = c.width, h = c.height;
  const t = thresholdPos() * 255, a = opacity();
  const above = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) above[i] = m[i] >= t ? 1 : 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x, o = 4 * i;
      const edge = above[i] && (x === 0 || y === 0 || x === w - 1 || y === h - 1 ||
        !above[i - 1] || !above[i + 1] || !above[i - w] || !above[i + w]);
      if (edge) { d[o] = 255; d[o + 1] = 255; d[o + 2] = 255; continue; }
      const k = above[i] ? a : 0.4 * a, col = turbo(m[i] / 255);
      d[o] = (1 - k) * d[o] + k * col[0];
      d[o + 1] = (1 - k) * d[o + 1] + k * col[1];
      d[o + 2] = (1 - k) * d[o + 2] + k * col[2];
    }
  }
  g.putImageData(out, 0, 0);
  card.el.dataset.drawn = '1';
}

function redrawAll() { drawColorbar(); for (const c of state.cards) redraw(c); }

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const im = new Image();
    im.onload = () => resolve(im);
    im.onerror = () => reject(new Error('the browser cannot show this image'));
    im.src = src;
  });
}

function newCard(file) {
  const el = document.createElement('div');
  el.className = 'result';
  el.dataset.name = file.name;
  el.innerHTML = '<div class="name"></div><canvas class="view" width="1" height="1"></canvas>' +
    '<dl><dt>decision</dt><dd><span class="decision pending">scoring…</span></dd>' +
    '<dt>score</dt><dd class="score">–</dd><dt>p-value</dt><dd class="pvalue">–</dd>' +
    '<dt>threshold</dt><dd class="threshold">–</dd></dl><div class="err"></div>';
  el.querySelector('.name').textContent = file.name;
  $('#results').prepend(el);
  return el;
}

async function scoreFile(file) {
  const m = currentModel();
  if (!m) { status('no model selected'); return; }
  const el = newCard(file);
  const dec = el.querySelector('.decision');
  try {
    const res = await api('/v1/models/' + encodeURIComponent(m.name) + ':predict?map=inline&name=' + encodeURIComponent(file.name),
      { method: 'POST', body: file, headers: { 'Content-Type': file.type || 'application/octet-stream' } });
    const r = res.results[0];
    dec.textContent = r.decision;
    dec.className = 'decision ' + r.decision;
    el.dataset.decision = r.decision;
    el.querySelector('.score').textContent = fmt(r.score);
    el.querySelector('.pvalue').textContent = fmt(r.p_value, 3);
    el.querySelector('.threshold').textContent = fmt(r.threshold);
    if (r.error) el.querySelector('.err').textContent = r.error;
    const url = URL.createObjectURL(file);
    const img = await loadImage(url);
    const canvas = el.querySelector('canvas');
    canvas.width = r.width || img.naturalWidth;
    canvas.height = r.height || img.naturalHeight;
    const card = { el, canvas, img, map: null };
    if (r.map && r.map.png) {
      // the map PNG is 16-bit gray; the canvas gives its top 8 bits, plenty for colour
      const mi = await loadImage('data:image/png;base64,' + r.map.png);
      const tmp = document.createElement('canvas');
      tmp.width = canvas.width; tmp.height = canvas.height;
      const tg = tmp.getContext('2d');
      tg.drawImage(mi, 0, 0, tmp.width, tmp.height);
      const px = tg.getImageData(0, 0, tmp.width, tmp.height).data, n = tmp.width * tmp.height;
      card.map = new Uint8Array(n);
      for (let i = 0; i < n; i++) card.map[i] = px[4 * i];
    }
    state.cards.push(card);
    redraw(card);
    el.dataset.done = '1';
  } catch (e) {
    dec.textContent = 'error';
    dec.className = 'decision error';
    el.dataset.decision = 'error';
    el.querySelector('.err').textContent = e.message;
    el.dataset.done = '1';
  }
}

async function scoreFiles(files) {
  // one at a time: the server's queue is for many clients
  for (const f of files) await scoreFile(f);
}

function setup() {
  const drop = $('#drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    scoreFiles([...e.dataTransfer.files].filter((f) => f.type.startsWith('image/') || f.type === ''));
  });
  $('#files').addEventListener('change', (e) => { scoreFiles([...e.target.files]); e.target.value = ''; });
  $('#opacity').addEventListener('input', redrawAll);
  $('#thr').addEventListener('input', redrawAll);
  $('#model').addEventListener('change', modelChanged);
  $('#clear').addEventListener('click', () => { state.cards = []; $('#results').textContent = ''; });
  $('#tokenform').addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = $('#token').value.trim();
    sessionStorage.setItem('vigil_token', state.token);
    // report pages fetch their pictures themselves: they send this cookie
    document.cookie = 'vigil_token=' + encodeURIComponent(state.token) + '; path=/; SameSite=Strict';
    $('#tokenform').hidden = true;
    loadModels();
    loadReports();
  });
  drawColorbar();
  loadModels();
  loadReports();
}

setup();
