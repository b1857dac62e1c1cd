// Bitrix24 emulator: the parent side of the app frame protocol (see shared/frame-messaging.md).
(function () {
  'use strict';

  const config = JSON.parse(document.getElementById('b24emu-config').textContent);
  const log = (window.__b24emuLog = window.__b24emuLog || []);
  const frames = {};
  const OPEN_PATH_ALLOWED =
    /^\/(crm\/(deal|lead|contact|company|type)|marketplace|company\/personal\/user\/[0-9]+|workgroups\/group\/[0-9]+)\//;

  function record(dir, command, params, sid) {
    log.push({ dir: dir, command: command, params: params, sid: sid });
  }

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
      credentials: 'same-origin',
    });
    const data = await response.json().catch(function () { return {}; });
    if (!response.ok) {
      const error = new Error(data.message || data.error || ('HTTP ' + response.status));
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // -- sliders ---------------------------------------------------------------------------------

  function openSlider(title, extraClass) {
    const overlay = document.createElement('div');
    overlay.className = 'b24emu-overlay';
    const slider = document.createElement('div');
    slider.className = 'b24emu-slider' + (extraClass ? ' ' + extraClass : '');
    const head = document.createElement('div');
    head.className = 'b24emu-slider-head';
    const titleEl = document.createElement('span');
    titleEl.className = 'b24emu-slider-title';
    titleEl.textContent = title || '';
    const close = document.createElement('button');
    close.className = 'b24emu-slider-close';
    close.title = 'Close';
    close.textContent = '×';
    head.appendChild(titleEl);
    head.appendChild(close);
    const body = document.createElement('div');
    body.className = 'b24emu-slider-body';
    slider.appendChild(head);
    slider.appendChild(body);
    document.body.appendChild(overlay);
    document.body.appendChild(slider);
    const handle = {
      element: slider,
      body: body,
      setTitle: function (text) { titleEl.textContent = text; },
      onClose: [],
      closed: false,
      close: function () {
        if (handle.closed) return;
        handle.closed = true;
        slider.remove();
        overlay.remove();
        handle.onClose.forEach(function (fn) { fn(); });
      },
    };
    close.addEventListener('click', handle.close);
    overlay.addEventListener('click', handle.close);
    return handle;
  }

  // -- app frames ------------------------------------------------------------------------------

  function submitFrameForm(params) {
    const form = document.createElement('form');
    form.method = 'POST';
    form.action = params.action;
    form.target = params.frameName;
    form.style.display = 'none';
    Object.keys(params.fields).forEach(function (key) {
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = key;
      input.value = params.fields[key];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
    form.remove();
  }

  async function openApp(spec) {
    const params = await postJson('/_emu/frame-params', spec);
    const slider = openSlider(spec.title || params.title, 'b24emu-app-slider');
    slider.element.dataset.sid = params.sid;
    slider.element.dataset.placement = spec.placement || 'DEFAULT';
    const iframe = document.createElement('iframe');
    // The name must be set before the iframe is attached, or window.name stays empty.
    iframe.name = params.frameName;
    iframe.id = 'b24emu-app-frame';
    iframe.className = 'b24emu-app-frame';
    iframe.setAttribute('data-sid', params.sid);
    slider.body.appendChild(iframe);
    const frame = {
      sid: params.sid,
      iframe: iframe,
      appOrigin: params.appOrigin,
      init: params.init,
      slider: slider,
      frameName: params.frameName,
    };
    frames[params.sid] = frame;
    slider.onClose.push(function () { delete frames[params.sid]; });
    record('portal', 'frameOpened', { placement: spec.placement || 'DEFAULT', action: params.action }, params.sid);
    submitFrameForm(params);
    return frame;
  }

  function reply(frame, callbackId, command, payload) {
    if (!frame.iframe.contentWindow) return;
    const message = callbackId + ':' + JSON.stringify(payload === undefined ? {} : payload);
    frame.iframe.contentWindow.postMessage(message, frame.appOrigin);
    record('out', command, payload, frame.sid);
  }

  function resize(frame, params) {
    const width = params && params.width;
    const height = params && params.height;
    if (typeof width === 'number') frame.iframe.style.width = width + 'px';
    else if (typeof width === 'string' && width) frame.iframe.style.width = /^\d+$/.test(width) ? width + 'px' : width;
    if (typeof height === 'number') frame.iframe.style.height = height + 'px';
    else if (typeof height === 'string' && /^\d+$/.test(height)) frame.iframe.style.height = height + 'px';
  }

  function normalisePath(path) {
    const url = new URL(String(path || ''), location.origin);
    // Drop IFRAME and IFRAME_TYPE by hand: URLSearchParams would re-encode the rest (3,7 -> 3%2C7).
    const kept = url.search.replace(/^\?/, '').split('&').filter(function (part) {
      const key = decodeURIComponent(part.split('=')[0] || '');
      return part && key !== 'IFRAME' && key !== 'IFRAME_TYPE';
    });
    url.search = kept.length ? '?' + kept.join('&') : '';
    return url;
  }

  function openPath(frame, params) {
    if (config.openPathError) {
      record('portal', 'openPath:refused', { errorCode: config.openPathError }, frame.sid);
      return Promise.resolve({ result: 'error', errorCode: config.openPathError });
    }
    let url;
    try {
      url = normalisePath(params && params.path);
    } catch (e) {
      return Promise.resolve({ result: 'error', errorCode: 'PATH_NOT_AVAILABLE' });
    }
    if (url.origin !== location.origin || !OPEN_PATH_ALLOWED.test(url.pathname)) {
      return Promise.resolve({ result: 'error', errorCode: 'PATH_NOT_AVAILABLE' });
    }
    const target = url.pathname + url.search;
    record('portal', 'openPath:opened', { path: target }, frame.sid);
    return new Promise(function (resolve) {
      const slider = openSlider(target, 'b24emu-path-slider');
      const iframe = document.createElement('iframe');
      iframe.id = 'b24emu-path-frame';
      iframe.className = 'b24emu-path-frame';
      iframe.src = target;
      slider.body.appendChild(iframe);
      slider.element.dataset.path = target;
      slider.onClose.push(function () { resolve({ result: 'close' }); });
    });
  }

  async function handle(frame, command, params) {
    switch (command) {
      case 'getInitData':
        return JSON.parse(JSON.stringify(frame.init));
      case 'setInstall':
        return {};
      case 'setInstallFinish': {
        try {
          const state = await postJson('/_emu/frame/' + frame.sid + '/install-finish');
          markInstalled(state.installed);
        } catch (e) {
          record('portal', 'setInstallFinish:refused', { error: String(e.message) }, frame.sid);
        }
        return {};
      }
      case 'refreshAuth': {
        const auth = await postJson('/_emu/frame/' + frame.sid + '/refresh');
        frame.init.AUTH_ID = auth.AUTH_ID;
        frame.init.REFRESH_ID = auth.REFRESH_ID;
        frame.init.AUTH_EXPIRES = auth.AUTH_EXPIRES;
        return auth;
      }
      case 'resizeWindow':
        resize(frame, params);
        return {};
      case 'setTitle':
        frame.slider.setTitle(String((params && params.title) || ''));
        return {};
      case 'setScroll':
        return {};
      case 'openPath':
        return openPath(frame, params);
      case 'openApplication': {
        const options = Object.assign({}, params || {});
        Object.keys(options).forEach(function (key) { if (key.indexOf('bx24_') === 0) delete options[key]; });
        const child = await openApp({ placement: 'DEFAULT', options: options });
        return new Promise(function (resolve) {
          child.slider.onClose.push(function () { resolve({}); });
        });
      }
      case 'closeApplication':
        setTimeout(function () { frame.slider.close(); }, 0);
        return {};
      case 'reloadWindow':
        setTimeout(function () { repost(frame); }, 0);
        return {};
      default:
        return undefined; // no reply: the SDK's own timeout decides
    }
  }

  async function repost(frame) {
    const params = await postJson('/_emu/frame/' + frame.sid + '/repost');
    frame.init = params.init;
    record('portal', 'reloadWindow:reposted', { action: params.action }, frame.sid);
    submitFrameForm(params);
  }

  function markInstalled(installed) {
    config.installed = !!installed;
    const status = document.getElementById('b24emu-app-status');
    if (status) {
      status.textContent = installed ? 'installed' : 'not installed';
      status.dataset.installed = String(!!installed);
    }
  }

  window.addEventListener('message', function (event) {
    let frame = null;
    Object.keys(frames).forEach(function (sid) {
      if (frames[sid].iframe.contentWindow === event.source) frame = frames[sid];
    });
    if (!frame || event.origin !== frame.appOrigin) return;
    if (typeof event.data !== 'string') return; // object form: custom "a:b" commands, ignored
    const parts = event.data.split(':');
    if (parts.length < 3) return;
    const command = parts[0];
    const sid = parts[parts.length - 1];
    const callbackId = parts[parts.length - 2];
    const raw = parts.slice(1, -2).join(':');
    let params = {};
    if (raw) {
      try { params = JSON.parse(raw); } catch (e) { params = raw; }
    }
    if (sid !== frame.sid) return;
    record('in', command, params, sid);
    handle(frame, command, params).then(function (payload) {
      if (payload !== undefined) reply(frame, callbackId, command, payload);
    }, function (error) {
      record('portal', command + ':failed', { error: String(error && error.message) }, sid);
    });
  });

  // -- page wiring -----------------------------------------------------------------------------

  window.b24emu = { openApp: openApp, frames: frames, log: log, config: config };

  const userSelect = document.getElementById('b24emu-user');
  if (userSelect) {
    userSelect.addEventListener('change', function () {
      const back = location.pathname + location.search;
      location.href = '/_emu/login?user=' + encodeURIComponent(userSelect.value) + '&back=' + encodeURIComponent(back);
    });
  }

  function reportError(error) {
    record('portal', 'error', { message: String(error && error.message) });
    window.alert(String(error && error.message));
  }

  const install = document.getElementById('b24emu-install');
  if (install) {
    install.addEventListener('click', function () {
      openApp({ placement: 'DEFAULT', install: true, title: 'Install' }).catch(reportError);
    });
  }
  const open = document.getElementById('b24emu-open');
  if (open) {
    open.addEventListener('click', function () {
      openApp({ placement: 'DEFAULT' }).catch(reportError);
    });
  }

  document.addEventListener('click', function (event) {
    const target = event.target instanceof Element ? event.target : null;
    const toggle = target && target.closest('.dropdown > button');
    document.querySelectorAll('.dropdown.open').forEach(function (el) {
      if (!toggle || el !== toggle.parentElement) el.classList.remove('open');
    });
    if (toggle) {
      toggle.parentElement.classList.toggle('open');
      return;
    }
    const item = target && target.closest('.menu-item');
    if (!item) return;
    const menu = item.closest('.menu');
    const rowId = menu && menu.dataset.rowId;
    const options = {};
    if (rowId) options.ID = rowId;
    options.URI = location.pathname;
    openApp({
      placement: item.dataset.placement,
      handler: item.dataset.handler,
      options: options,
      title: item.textContent,
    }).catch(reportError);
  });
})();
