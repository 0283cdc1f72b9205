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
  const chat = $('chat').checked;
  const prompt = $('prompt').value;
  let body;
  try {
    body = { ...parameters(), stream: true };
  } catch (bad) {
    show('error', bad.message);
    return;
  }
  if (chat) body.messages = [{ role: 'user', content: prompt }];
  else body.prompt = prompt;

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
    const response = await fetch(chat ? '/v1/chat/completions' : '/v1/completions', {
      method: 'POST', headers: headers(true), body: JSON.stringify(body), signal: generation.signal,
    });
    if (!response.ok) {
      await failed('status', 'error', response);
      return;
    }
    await readEvents(response, (data) => {
      if (data === '[DONE]') return false;
      const chunk = JSON.parse(data);
      if (chunk.error) {
        show('error', describeError(chunk.error));
        finish = 'error';
        return true;
      }
      if (chunk.id && $('request-id').textContent !== chunk.id) {
        $('request-id').textContent = chunk.id;
        $('watch-this').disabled = false;
      }
      const choice = chunk.choices && chunk.choices[0];
      if (!choice) return true; // the usage chunk
      const text = chat ? choice.delta && choice.delta.content : choice.text;
      if (text) $('output').append(text);
      if (choice.finish_reason) finish = choice.finish_reason;
      return true;
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
  pollStats();
});
