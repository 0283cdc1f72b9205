'use strict';
// The moeflow playground: no framework, no build step. Streams are read with fetch rather than EventSource
// because EventSource cannot send the Authorization header an API key needs.

const $ = (id) => document.getElementById(id);
const API_KEY_STORAGE = 'moeflow.apiKey';
let generation = null; // AbortController of the running generation
let watching = null; // AbortController of the events being watched

function headers(json) {
  const h = {};
  if (json) h['Content-Type'] = 'application/json';
  const key = $('api-key').value.trim();
  if (key) h.Authorization = 'Bearer ' + key;
  return h;
}

/** Calls onData with the payload of each `data:` event of a Server-Sent Events response; stops when it returns false. */
async function readEvents(response, onData) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      // comment lines (": keep-alive") carry no data
      const data = block.split('\n').filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(l.startsWith('data: ') ? 6 : 5).replace(/\r$/, ''));
      if (data.length > 0 && onData(data.join('\n')) === false) {
        await reader.cancel();
        return;
      }
    }
  }
}

/**
 * Reads an OpenAI completion stream up to [DONE]: onChunk(chunk, choice) for every chunk (choice undefined in the
 * usage chunk); an error event is shown in errorId. Returns the finish reason, 'error' after an error event.
 */
async function readChoices(response, errorId, onChunk) {
  let finish = null;
  await readEvents(response, (data) => {
    if (data === '[DONE]') return false;
    const chunk = JSON.parse(data);
    if (chunk.error) {
      show(errorId, describeError(chunk.error));
      finish = 'error';
      return true;
    }
    const choice = chunk.choices && chunk.choices[0];
    onChunk(chunk, choice);
    if (choice && choice.finish_reason) finish = choice.finish_reason;
    return true;
  });
  return finish;
}

/** One line for an OpenAI-shaped error object {message, type, param, code}. */
function describeError(error) {
  let text = (error.type ? error.type + ': ' : '') + (error.message || 'unknown error');
  if (error.param) text += ' (parameter: ' + error.param + ')';
  return text;
}

/** The message of a failed HTTP response: its OpenAI error when it has one, else its body. */
async function responseError(response) {
  const body = await response.text();
  let text = body || response.statusText;
  try {
    const parsed = JSON.parse(body);
    if (parsed && parsed.error) {
      text = typeof parsed.error === 'object' ? describeError(parsed.error) : String(parsed.error);
    }
  } catch (notJson) {
    // keep the raw body
  }
  const retry = response.headers.get('Retry-After');
  return 'HTTP ' + response.status + ' — ' + text + (retry ? ' — retry after ' + retry + ' s' : '');
}

function show(id, message) {
  const element = $(id);
  element.textContent = message || '';
  element.hidden = !message;
}

function setStatus(id, state, text) {
  const element = $(id);
  element.dataset.state = state;
  element.textContent = text;
}

/** Shows why a request or stream ended early: Stop (an aborted fetch) or a failure. */
async function failed(statusId, errorId, failure, stoppedText) {
  if (failure instanceof Response) {
    show(errorId, await responseError(failure));
  } else if (failure.name === 'AbortError') {
    setStatus(statusId, 'stopped', stoppedText);
    return;
  } else {
    show(errorId, String(failure));
  }
  setStatus(statusId, 'error', 'Failed');
}

function optionalNumber(id, parse) {
  const raw = $(id).value.trim();
  if (raw === '') return undefined;
  const value = parse(raw);
  if (Number.isNaN(value)) throw new Error(id + ' is not a number: ' + raw);
  return value;
}

/** The request body's sampling fields; empty fields are left out so the server's defaults apply. */
function parameters() {
  const params = {
    max_tokens: optionalNumber('max_tokens', (v) => parseInt(v, 10)),
    temperature: optionalNumber('temperature', parseFloat),
    top_p: optionalNumber('top_p', parseFloat),
    top_k: optionalNumber('top_k', (v) => parseInt(v, 10)),
    seed: optionalNumber('seed', (v) => parseInt(v, 10)),
  };
  const stop = $('stop').value.split('\n').filter((s) => s !== '')
    .map((s) => s.replace(/\\n/g, '\n').replace(/\\t/g, '\t'));
  if (stop.length > 0) params.stop = stop;
  return params;
}

async function send(event) {
  event.preventDefault();
  if (generation) return;
  let body;
  try {
    body = { ...parameters(), stream: true, prompt: $('prompt').value };
  } catch (bad) {
    show('error', bad.message);
    return;
  }

  $('output').textContent = '';
  $('request-id').textContent = '–';
  $('watch-this').disabled = true;
  show('error', '');
  setStatus('status', 'running', 'Generating…');
  generation = new AbortController();
  $('send').disabled = true;
  $('stop-generation').disabled = false;
  let finish = null;
  try {
    const response = await fetch('/v1/completions', {
      method: 'POST', headers: headers(true), body: JSON.stringify(body), signal: generation.signal,
    });
    if (!response.ok) {
      await failed('status', 'error', response);
      return;
    }
    finish = await readChoices(response, 'error', (chunk, choice) => {
      if (chunk.id && $('request-id').textContent !== chunk.id) {
        $('request-id').textContent = chunk.id;
        $('watch-this').disabled = false;
      }
      if (choice && choice.text) $('output').append(choice.text);
    });
    setStatus('status', finish === 'error' ? 'error' : 'done', 'Finished: ' + (finish || 'stream ended'));
  } catch (failure) {
    await failed('status', 'error', failure, 'Stopped (the server cancels the generation)');
  } finally {
    generation = null;
    $('send').disabled = false;
    $('stop-generation').disabled = true;
  }
}

// ------------------------------------------------------------------ chat

/** The conversation so far, as OpenAI messages (the system prompt is added when sending). */
let conversation = [];
let chatting = null; // AbortController of the running chat completion
let conversationNumber = 0; // a reply that ends after "New conversation" belongs to no conversation

/** Folds one streamed delta (content, reasoning_content, tool_calls by index) into an assistant message. */
function applyDelta(message, delta) {
  if (typeof delta.content === 'string') message.content = (message.content || '') + delta.content;
  if (typeof delta.reasoning_content === 'string') {
    message.reasoning_content = (message.reasoning_content || '') + delta.reasoning_content;
  }
  for (const part of delta.tool_calls || []) {
    message.tool_calls = message.tool_calls || [];
    const index = Number.isInteger(part.index) ? part.index : message.tool_calls.length;
    const call = message.tool_calls[index]
      || (message.tool_calls[index] = { id: '', type: 'function', function: { name: '', arguments: '' } });
    if (part.id) call.id = part.id;
    if (part.type) call.type = part.type;
    if (part.function) {
      if (part.function.name) call.function.name += part.function.name;
      if (part.function.arguments) call.function.arguments += part.function.arguments;
    }
  }
}

/** Pretty JSON when the arguments parse (whole calls), else the text as it came. */
function formatArguments(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch (partial) {
    return text;
  }
}

/** (Re)draws one transcript entry from its message: reasoning folded in a details, content, tool calls. */
function renderMessage(item, message) {
  item.dataset.role = message.role;
  let reasoning = item.querySelector(':scope > details.reasoning');
  if (message.reasoning_content) {
    if (!reasoning) {
      reasoning = document.createElement('details'); // closed: the reasoning is folded until opened
      reasoning.className = 'reasoning';
      const summary = document.createElement('summary');
      summary.textContent = 'Reasoning';
      reasoning.append(summary, document.createElement('pre'));
      item.querySelector(':scope > .role').after(reasoning);
    }
    reasoning.querySelector('pre').textContent = message.reasoning_content;
  }
  item.querySelector(':scope > .content').textContent = message.content || '';
  let calls = item.querySelector(':scope > .tool-calls');
  if (message.tool_calls && message.tool_calls.length > 0) {
    if (!calls) {
      calls = document.createElement('ul');
      calls.className = 'tool-calls';
      item.append(calls);
    }
    calls.textContent = '';
    for (const call of message.tool_calls.filter(Boolean)) {
      const li = document.createElement('li');
      li.className = 'tool-call';
      const name = document.createElement('code');
      name.className = 'tool-name';
      name.textContent = call.function ? call.function.name : '';
      const args = document.createElement('pre');
      args.className = 'tool-arguments';
      args.textContent = formatArguments(call.function ? call.function.arguments || '' : '');
      li.append('Tool call ', name, args);
      if (call.id) li.dataset.id = call.id;
      calls.append(li);
    }
  }
}

function addMessage(message) {
  const item = document.createElement('li');
  item.className = 'message';
  const role = document.createElement('span');
  role.className = 'role';
  role.textContent = message.role;
  const content = document.createElement('div');
  content.className = 'content';
  item.append(role, content);
  $('transcript').append(item);
  renderMessage(item, message);
  return item;
}

/** What the server gets back of an assistant turn: its content and tool calls (reasoning stays in the page). */
function historyMessage(message) {
  if (message.role !== 'assistant') return message;
  const sent = { role: 'assistant', content: message.content || '' };
  if (message.tool_calls && message.tool_calls.length > 0) sent.tool_calls = message.tool_calls.filter(Boolean);
  return sent;
}

function newConversation() {
  if (chatting) chatting.abort();
  conversationNumber++;
  conversation = [];
  $('transcript').textContent = '';
  show('chat-error', '');
  setStatus('chat-status', 'idle', 'Idle');
}

async function chat(event) {
  event.preventDefault();
  if (chatting) return;
  const text = $('chat-input').value;
  if (!text.trim()) return;
  const stream = $('chat-stream').checked;
  const messages = [];
  const system = $('system-prompt').value;
  if (system.trim()) messages.push({ role: 'system', content: system });
  const user = { role: 'user', content: text };
  messages.push(...conversation.map(historyMessage), user);
  let body;
  try {
    body = { ...parameters(), stream, messages };
  } catch (bad) {
    show('chat-error', bad.message);
    return;
  }
  show('chat-error', '');
  conversation.push(user);
  const userItem = addMessage(user);
  $('chat-input').value = '';
  const reply = { role: 'assistant', content: '' };
  const item = addMessage(reply);
  item.dataset.state = 'running';
  setStatus('chat-status', 'running', 'Generating…');
  const controller = new AbortController();
  const number = conversationNumber;
  chatting = controller;
  $('chat-send').disabled = true;
  $('chat-stop').disabled = false;
  let finish = null;
  let answered = false;
  try {
    const response = await fetch('/v1/chat/completions', {
      method: 'POST', headers: headers(true), body: JSON.stringify(body), signal: controller.signal,
    });
    if (!response.ok) {
      await failed('chat-status', 'chat-error', response);
      return;
    }
    answered = true;
    if (stream) {
      finish = await readChoices(response, 'chat-error', (chunk, choice) => {
        if (!choice || !choice.delta) return;
        applyDelta(reply, choice.delta);
        renderMessage(item, reply);
      });
    } else {
      const whole = await response.json();
      const choice = whole.choices[0];
      Object.assign(reply, choice.message, { role: 'assistant' });
      finish = choice.finish_reason;
      renderMessage(item, reply);
    }
    setStatus('chat-status', finish === 'error' ? 'error' : 'done', 'Finished: ' + (finish || 'stream ended'));
  } catch (failure) {
    await failed('chat-status', 'chat-error', failure, 'Stopped (the server cancels the generation)');
  } finally {
    if (number !== conversationNumber) {
      // cleared meanwhile: nothing to keep
    } else if (answered) {
      conversation.push(reply); // what was received stays in the conversation, also after Stop
      item.dataset.state = 'done';
    } else {
      // nothing reached the model: the turn is taken back, its text returned to the input
      conversation.pop();
      userItem.remove();
      item.remove();
      $('chat-input').value = text;
    }
    if (chatting === controller) chatting = null;
    $('chat-send').disabled = false;
    $('chat-stop').disabled = true;
  }
}

function addEventRow(event) {
  const row = document.createElement('tr');
  const finish = event.error ? event.finish_reason + ' — ' + describeError(event.error) : event.finish_reason;
  const text = document.createElement('code');
  text.textContent = JSON.stringify(event.text); // quoted, so spaces and newlines are visible
  for (const cell of [String(event.index), text, finish == null ? '' : finish]) {
    const td = document.createElement('td');
    td.append(cell);
    row.append(td);
  }
  $('events-list').append(row);
}

async function watch(event) {
  event.preventDefault();
  const id = $('events-id').value.trim();
  if (!id) return;
  if (watching) watching.abort();
  const controller = new AbortController();
  watching = controller;
  $('events-list').textContent = '';
  show('events-error', '');
  setStatus('events-status', 'running', 'Watching…');
  $('events-stop').disabled = false;
  try {
    const response = await fetch('/v1/requests/' + encodeURIComponent(id) + '/events', {
      headers: headers(false), signal: controller.signal,
    });
    if (!response.ok) {
      await failed('events-status', 'events-error', response);
      return;
    }
    let finish = null;
    await readEvents(response, (data) => {
      const tokenEvent = JSON.parse(data);
      if (tokenEvent.index === undefined) {
        // the "end" event of an id with no events: an error, not a token event
        show('events-error', describeError(tokenEvent.error || {}));
        finish = tokenEvent.error && tokenEvent.error.code ? tokenEvent.error.code : 'no events';
        return false;
      }
      addEventRow(tokenEvent);
      finish = tokenEvent.finish_reason;
      return finish == null;
    });
    setStatus('events-status', 'done', finish ? 'Ended: ' + finish : 'Stream closed');
  } catch (failure) {
    await failed('events-status', 'events-error', failure, 'Stopped watching');
  } finally {
    if (watching === controller) {
      watching = null;
      $('events-stop').disabled = true;
    }
  }
}

function formatNumber(value, digits) {
  return value == null ? '–' : Number(value).toFixed(digits);
}

function formatBytes(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return value.toFixed(unit === 0 ? 0 : 1) + ' ' + units[unit];
}

async function pollStats() {
  try {
    const response = await fetch('/v1/stats', { headers: headers(false) });
    if (!response.ok) {
      show('stats-error', await responseError(response));
      return;
    }
    const s = await response.json();
    show('stats-error', '');
    $('stat-model').textContent = s.model;
    $('stat-state').textContent = s.state;
    $('stat-running').textContent = formatNumber(s.running, 0);
    $('stat-waiting').textContent = formatNumber(s.waiting, 0);
    $('stat-batch').textContent = formatNumber(s.last_batch_size, 1) + ' / ' + formatNumber(s.mean_batch_size, 1);
    $('stat-tps').textContent = formatNumber(s.tokens_per_second, 1);
    $('stat-generated').textContent = formatNumber(s.generated_tokens, 0);
    $('stat-kv').textContent = s.kv_total_blocks == null ? '–' : s.kv_free_blocks + ' of ' + s.kv_total_blocks;
    const cache = s.expert_cache;
    $('stat-experts').textContent = cache
      ? (100 * cache.hit_rate).toFixed(1) + ' % (' + formatBytes(cache.bytes_read) + ' read)'
      : 'no expert cache (experts resident)';
  } catch (failure) {
    show('stats-error', 'stats unavailable: ' + failure);
  } finally {
    setTimeout(pollStats, 1000);
  }
}

// ------------------------------------------------------------------ expert heatmap

/** The last /v1/stats/experts body drawn, and the cell size used (for the hover text and the page test). */
let expertMap = null;
const RESIDENT_COLOR = [230, 120, 0];

/** Pixels per cell: as wide as the box allows (at least 1), rows at least 3 high so the resident mark shows. */
function cellSize(layers, experts) {
  const width = Math.max(1, $('expert-map').parentElement.clientWidth || 960);
  const w = Math.max(1, Math.min(24, Math.floor(width / experts)));
  const h = Math.max(3, Math.min(24, Math.floor(480 / layers)));
  return { w, h };
}

/**
 * Draws tokens per (layer, expert) into the canvas as one ImageData (64 layers x 384 experts is ~25k cells):
 * white to dark blue on a log scale of the largest count; a resident expert gets an orange bottom row.
 */
function drawExperts(stats) {
  const canvas = $('expert-map');
  const counts = stats.counts || [];
  const moeRows = counts.filter((row) => row != null);
  if (stats.counts == null || moeRows.length === 0) {
    expertMap = null;
    canvas.width = 0;
    canvas.height = 0;
    canvas.dataset.nonzero = '0';
    canvas.dataset.resident = '0';
    $('expert-summary').textContent = stats.counts == null ? 'model ' + stats.state
      : 'this model has no routed experts (every layer is dense)';
    return;
  }
  const layers = counts.length;
  const experts = Math.max(stats.experts || 0, ...moeRows.map((row) => row.length));
  const { w, h } = cellSize(layers, experts);
  canvas.width = experts * w;
  canvas.height = layers * h;
  let max = 0;
  let total = 0;
  for (const row of moeRows) for (const c of row) { if (c > max) max = c; total += c; }
  const image = new ImageData(canvas.width, canvas.height);
  const px = image.data;
  const scale = max > 0 ? 1 / Math.log1p(max) : 0;
  let nonzero = 0;
  let residentCells = 0;
  const fill = (x0, y0, cw, ch, r, g, b) => {
    for (let y = y0; y < y0 + ch; y++) {
      for (let x = x0; x < x0 + cw; x++) {
        const i = (y * canvas.width + x) * 4;
        px[i] = r; px[i + 1] = g; px[i + 2] = b; px[i + 3] = 255;
      }
    }
  };
  for (let l = 0; l < layers; l++) {
    const row = counts[l];
    const resident = new Set(stats.resident && stats.resident[l] ? stats.resident[l] : []);
    for (let e = 0; e < experts; e++) {
      const x = e * w;
      const y = l * h;
      if (row == null || e >= row.length) {
        fill(x, y, w, h, 235, 235, 235); // a dense layer: no experts
        continue;
      }
      const c = row[e];
      if (c > 0) nonzero++;
      const t = c > 0 ? 0.15 + 0.85 * Math.log1p(c) * scale : 0; // the smallest count still shows
      fill(x, y, w, h, Math.round(255 - 247 * t), Math.round(255 - 207 * t), Math.round(255 - 148 * t));
      if (resident.has(e)) {
        residentCells++;
        fill(x, y + h - 1, w, 1, ...RESIDENT_COLOR);
      }
    }
  }
  canvas.getContext('2d').putImageData(image, 0, 0);
  expertMap = { stats, w, h, layers, experts };
  canvas.dataset.nonzero = String(nonzero);
  canvas.dataset.resident = String(residentCells);
  canvas.dataset.max = String(max);
  $('expert-summary').textContent = layers + ' layers × ' + experts + ' experts, ' + total + ' tokens routed in '
    + stats.window_seconds + ' s (busiest expert ' + max + '), ' + nonzero + ' experts ran'
    + (stats.resident ? '; ' + residentCells + ' in the budgeted cache' : '; experts resident (mapped)');
}

function hoverExpert(event) {
  if (!expertMap) return;
  const rect = $('expert-map').getBoundingClientRect();
  const scaleX = $('expert-map').width / rect.width;
  const scaleY = $('expert-map').height / rect.height;
  const e = Math.floor((event.clientX - rect.left) * scaleX / expertMap.w);
  const l = Math.floor((event.clientY - rect.top) * scaleY / expertMap.h);
  const row = expertMap.stats.counts[l];
  if (l < 0 || l >= expertMap.layers || e < 0 || e >= expertMap.experts) return;
  if (row == null) {
    $('expert-hover').textContent = 'layer ' + l + ': dense';
    return;
  }
  const resident = expertMap.stats.resident && expertMap.stats.resident[l] && expertMap.stats.resident[l].includes(e);
  $('expert-hover').textContent = 'layer ' + l + ', expert ' + e + ': ' + row[e] + ' tokens'
    + (resident ? ' (in the cache)' : '');
}

async function pollExperts() {
  try {
    const response = await fetch('/v1/stats/experts?window=' + encodeURIComponent($('expert-window').value),
      { headers: headers(false) });
    if (!response.ok) {
      show('experts-error', await responseError(response));
      return;
    }
    show('experts-error', '');
    drawExperts(await response.json());
  } catch (failure) {
    show('experts-error', 'expert figures unavailable: ' + failure);
  } finally {
    setTimeout(pollExperts, 1000);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  const key = $('api-key');
  key.value = localStorage.getItem(API_KEY_STORAGE) || '';
  key.addEventListener('input', () => {
    if (key.value) localStorage.setItem(API_KEY_STORAGE, key.value);
    else localStorage.removeItem(API_KEY_STORAGE);
  });
  $('generate-form').addEventListener('submit', send);
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('generate-form').requestSubmit();
  });
  $('stop-generation').addEventListener('click', () => generation && generation.abort());
  $('watch-this').addEventListener('click', () => {
    $('events-id').value = $('request-id').textContent;
    $('events-form').requestSubmit();
  });
  $('events-form').addEventListener('submit', watch);
  $('events-stop').addEventListener('click', () => watching && watching.abort());
  $('chat-form').addEventListener('submit', chat);
  $('chat-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('chat-form').requestSubmit();
  });
  $('chat-stop').addEventListener('click', () => chatting && chatting.abort());
  $('chat-new').addEventListener('click', newConversation);
  $('expert-map').addEventListener('mousemove', hoverExpert);
  pollStats();
  pollExperts();
});
