/* 爱心地图 (workers' finder map): locate me, nearest open stations with minutes, amenities, route and
 * an Amap navigation link. Talks to GET {api_base}/nearest; without an API (a page written to a file)
 * it uses the stations embedded in the page and a straight-line estimate, clearly labelled.
 * Coordinates are WGS-84 everywhere; on Amap tiles (GCJ-02) they are shifted only for drawing. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("yz-config").textContent);

  var TEXT = {
    zh: {
      title: "爱心地图 · 附近驿站", locate: "定位我", locating: "正在定位…", walk: "步行", ebike: "电动车",
      hint: "点“定位我”，或在地图上点一下您所在的位置。",
      geoFail: "无法获取您的位置（{msg}）。请在地图上点一下您所在的位置。",
      searching: "正在查找附近开放的驿站…", found: "离您最近的 {n} 个开放驿站：",
      none: "附近没有符合条件的开放驿站。试试减少筛选条件或切换为电动车。",
      apiFail: "暂时无法连接服务，以下为直线距离估算，实际路程可能更远。",
      offline: "离线版：以下为直线距离估算，实际路程可能更远；开放时间请以现场为准。",
      error: "查询失败：{msg}", min: "分钟", km: "公里", m: "米", estimate: "直线估算",
      route: "查看路线", nav: "导航", hours: "开放时间", today: "今日", me: "我的位置", other: "English"
    },
    en: {
      title: "Caring Map · stations nearby", locate: "Locate me", locating: "Locating…", walk: "Walk",
      ebike: "E-bike", hint: "Tap “Locate me”, or tap the map where you are.",
      geoFail: "Could not get your location ({msg}). Tap the map where you are.",
      searching: "Looking for open stations nearby…", found: "The {n} nearest open stations:",
      none: "No open station with these amenities nearby. Try fewer filters or the e-bike.",
      apiFail: "The service cannot be reached: straight-line estimates below; the real trip may be longer.",
      offline: "Offline copy: straight-line estimates; the real trip may be longer. Check opening hours on site.",
      error: "Search failed: {msg}", min: "min", km: "km", m: "m", estimate: "straight-line estimate",
      route: "Show route", nav: "Navigate", hours: "Hours", today: "today", me: "My location", other: "中文"
    }
  };

  var PIN_SVG = '<svg aria-hidden="true" width="20" height="20" viewBox="0 0 24 24" style="vertical-align:-3px;' +
    'margin-right:6px"><path fill="currentColor" d="M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7z' +
    'm0 9.5A2.5 2.5 0 1 1 12 6.5a2.5 2.5 0 0 1 0 5z"/></svg>';
  var params = new URLSearchParams(window.location.search);
  var state = {
    lang: params.get("lang") === "en" || params.get("lang") === "zh" ? params.get("lang") : cfg.lang,
    mode: params.get("mode") === "ebike" || params.get("mode") === "walk" ? params.get("mode") : cfg.mode,
    amenities: [], point: null, results: [], estimate: false, active: 0, requests: 0, done: 0
  };
  function t(key, vars) {
    var s = (TEXT[state.lang] || TEXT.zh)[key] || key;
    Object.keys(vars || {}).forEach(function (k) { s = s.replace("{" + k + "}", vars[k]); });
    return s;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }

  /* ---- WGS-84 -> GCJ-02 (the published "China offset" formula) and its iterative inverse ---- */
  var A = 6378245.0, EE = 0.00669342162296594323;
  function outOfChina(lon, lat) { return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271; }
  function tLat(x, y) {
    var r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin(y / 3.0 * Math.PI)) * 2.0 / 3.0;
    r += (160.0 * Math.sin(y / 12.0 * Math.PI) + 320 * Math.sin(y * Math.PI / 30.0)) * 2.0 / 3.0;
    return r;
  }
  function tLon(x, y) {
    var r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin(x / 3.0 * Math.PI)) * 2.0 / 3.0;
    r += (150.0 * Math.sin(x / 12.0 * Math.PI) + 300.0 * Math.sin(x / 30.0 * Math.PI)) * 2.0 / 3.0;
    return r;
  }
  function wgs2gcj(lon, lat) {
    if (outOfChina(lon, lat)) { return [lon, lat]; }
    var dLat = tLat(lon - 105.0, lat - 35.0), dLon = tLon(lon - 105.0, lat - 35.0);
    var rad = lat / 180.0 * Math.PI, magic = Math.sin(rad);
    magic = 1 - EE * magic * magic;
    var sq = Math.sqrt(magic);
    dLat = (dLat * 180.0) / ((A * (1 - EE)) / (magic * sq) * Math.PI);
    dLon = (dLon * 180.0) / (A / sq * Math.cos(rad) * Math.PI);
    return [lon + dLon, lat + dLat];
  }
  function gcj2wgs(lon, lat) {
    var x = lon, y = lat;
    for (var i = 0; i < 30; i++) {
      var g = wgs2gcj(x, y), dx = g[0] - lon, dy = g[1] - lat;
      x -= dx; y -= dy;
      if (Math.abs(dx) < 1e-9 && Math.abs(dy) < 1e-9) { break; }
    }
    return [x, y];
  }
  var gcjTiles = cfg.tiles_crs === "gcj02";
  function toMap(lon, lat) {           // WGS-84 -> Leaflet LatLng on the basemap
    var p = gcjTiles ? wgs2gcj(lon, lat) : [lon, lat];
    return L.latLng(p[1], p[0]);
  }
  function fromMap(latlng) {           // Leaflet LatLng on the basemap -> WGS-84 [lon, lat]
    return gcjTiles ? gcj2wgs(latlng.lng, latlng.lat) : [latlng.lng, latlng.lat];
  }

  /* ---- map ---- */
  var map = L.map("yz-map", {zoomControl: true, maxZoom: 19, tap: true})
    .setView(toMap(cfg.center[0], cfg.center[1]), cfg.zoom);
  if (cfg.tiles) {
    L.tileLayer(cfg.tiles.url, {attribution: cfg.tiles.attr, subdomains: cfg.tiles.subdomains || "abc",
      maxZoom: cfg.tiles.max_zoom || 19}).addTo(map);
  }
  L.control.scale({imperial: false}).addTo(map);
  var allLayer = L.layerGroup().addTo(map), resultLayer = L.layerGroup().addTo(map);
  var routeLayer = L.layerGroup().addTo(map), meLayer = L.layerGroup().addTo(map);
  (cfg.stations || []).forEach(function (s) {
    L.circleMarker(toMap(s.lon, s.lat), {radius: 5, color: "#fff", weight: 1, fillColor: "#c62828",
      fillOpacity: 0.55, className: "yz-all-station"}).bindTooltip(el("span", null, s.name)).addTo(allLayer);
  });
  map.on("click", function (e) { setPoint(fromMap(e.latlng), "tap"); });

  /* ---- controls ---- */
  var amenityLabel = {};
  cfg.amenities.forEach(function (a) { amenityLabel[a.code] = a; });
  function amenityText(code) {
    var a = amenityLabel[code];
    return a ? (state.lang === "en" ? a.en : a.zh) : code;
  }
  function kindText(code) {
    var k = cfg.kinds[code];
    return k ? (state.lang === "en" ? k.en : k.zh) : (code || "");
  }
  var filters = document.getElementById("yz-filters");
  cfg.filters.forEach(function (code) {
    var b = el("button", "yz-chip");
    b.type = "button";
    b.dataset.amenity = code;
    b.setAttribute("aria-pressed", "false");
    b.addEventListener("click", function () {
      var i = state.amenities.indexOf(code);
      if (i >= 0) { state.amenities.splice(i, 1); } else { state.amenities.push(code); }
      b.classList.toggle("yz-on", i < 0);
      b.setAttribute("aria-pressed", i < 0 ? "true" : "false");
      search();
    });
    filters.appendChild(b);
  });
  Array.prototype.forEach.call(document.querySelectorAll(".yz-mode"), function (b) {
    b.addEventListener("click", function () { state.mode = b.dataset.mode; paintControls(); search(); });
  });
  document.getElementById("yz-locate").addEventListener("click", locate);
  document.getElementById("yz-lang").addEventListener("click", function () {
    state.lang = state.lang === "zh" ? "en" : "zh";
    var q = new URLSearchParams(window.location.search);
    q.set("lang", state.lang);
    window.history.replaceState(null, "", window.location.pathname + "?" + q.toString());
    paintControls();
    renderResults();
  });

  var statusBox = document.getElementById("yz-status");
  function setStatus(text, warn) {
    statusBox.textContent = text;
    statusBox.classList.toggle("yz-warn", !!warn);
  }
  function paintControls() {
    document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
    document.title = t("title");
    document.getElementById("yz-title").textContent = t("title");
    document.getElementById("yz-lang").textContent = t("other");
    var loc = document.getElementById("yz-locate");
    loc.innerHTML = PIN_SVG;
    loc.appendChild(el("span", null, t("locate")));
    Array.prototype.forEach.call(document.querySelectorAll(".yz-mode"), function (b) {
      b.textContent = t(b.dataset.mode);
      b.classList.toggle("yz-on", b.dataset.mode === state.mode);
      b.setAttribute("aria-pressed", b.dataset.mode === state.mode ? "true" : "false");
    });
    Array.prototype.forEach.call(document.querySelectorAll(".yz-chip"), function (b) {
      b.textContent = amenityText(b.dataset.amenity);
    });
  }

  /* ---- locating ---- */
  function locate() {
    if (!navigator.geolocation) { setStatus(t("geoFail", {msg: "no geolocation"}), true); return; }
    setStatus(t("locating"));
    navigator.geolocation.getCurrentPosition(function (pos) {
      setPoint([pos.coords.longitude, pos.coords.latitude], "gps");
    }, function (err) {
      setStatus(t("geoFail", {msg: err.message || err.code}), true);
    }, {enableHighAccuracy: true, timeout: 10000, maximumAge: 60000});
  }
  function setPoint(lonlat, how) {
    state.point = {lon: lonlat[0], lat: lonlat[1], how: how};
    meLayer.clearLayers();
    L.marker(toMap(lonlat[0], lonlat[1]), {icon: L.divIcon({className: "yz-me-pin", html: "<div></div>",
      iconSize: [24, 24], iconAnchor: [12, 12]}), title: t("me"), zIndexOffset: 1000}).addTo(meLayer);
    search();
  }

  /* ---- searching ---- */
  function haversine(lon1, lat1, lon2, lat2) {
    var r = Math.PI / 180, dLat = (lat2 - lat1) * r, dLon = (lon2 - lon1) * r;
    var a = Math.sin(dLat / 2) * Math.sin(dLat / 2) +
      Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 6371008.8 * 2 * Math.atan2(Math.sqrt(a), Math.sqrt(1 - a));
  }
  function amapUrl(lon, lat, name) {
    var g = wgs2gcj(lon, lat);
    return "https://uri.amap.com/navigation?to=" + g[0].toFixed(6) + "," + g[1].toFixed(6) + "," +
      encodeURIComponent(name || "") + "&mode=" + (state.mode === "ebike" ? "ride" : "walk") +
      "&coordinate=gaode&callnative=1";
  }
  function estimate() {
    var p = state.point, speed = cfg.speeds_kph[state.mode] * 1000 / 60;
    var hits = (cfg.stations || []).filter(function (s) {
      return state.amenities.every(function (a) { return s.amenities.indexOf(a) >= 0; });
    }).map(function (s) {
      var meters = haversine(p.lon, p.lat, s.lon, s.lat);
      return {id: s.id, name: s.name, kind: s.kind, amenities: s.amenities, hours: s.hours, address: s.address,
        lon: s.lon, lat: s.lat, meters: meters, minutes: meters / speed, estimate: true,
        route: [[p.lon, p.lat], [s.lon, s.lat]], amap_url: amapUrl(s.lon, s.lat, s.name)};
    });
    hits.sort(function (a, b) { return a.meters - b.meters; });
    return hits.slice(0, cfg.k);
  }
  function fromApi(r) {
    var props = r.station.properties || {}, c = r.station.geometry.coordinates;
    return {id: r.station.id, name: props.name, kind: props.kind, amenities: props.amenities || [],
      hours: r.hours_today || props.hours_today || props.opening_hours, address: props.address,
      lon: c[0], lat: c[1], meters: r.meters, minutes: r.minutes, estimate: false,
      route: (r.route && r.route.coordinates) || [], amap_url: r.amap_url};
  }
  function search() {
    if (!state.point) { setStatus(t("hint")); return; }
    var ticket = ++state.requests;
    if (cfg.api_base === null) { finish(ticket, estimate(), true, t("offline")); return; }
    setStatus(t("searching"));
    var q = new URLSearchParams({lon: state.point.lon.toFixed(7), lat: state.point.lat.toFixed(7), crs: "wgs84",
      mode: state.mode, k: String(cfg.k), open_now: "true"});
    state.amenities.forEach(function (a) { q.append("amenity", a); });
    fetch(cfg.api_base + "/nearest?" + q.toString(), {headers: {Accept: "application/json"}})
      .then(function (resp) {
        return resp.json().then(function (body) { return {ok: resp.ok, status: resp.status, body: body}; });
      })
      .then(function (res) {
        if (res.ok) { finish(ticket, (res.body.results || []).map(fromApi), false, null); return; }
        var b = res.body || {}, msg = b.message || (b.error && (b.error.message || b.error)) || b.detail;
        if (res.status >= 500 && cfg.stations) { finish(ticket, estimate(), true, t("apiFail")); return; }
        if (ticket === state.requests) {
          state.results = []; state.done += 1; renderResults();
          setStatus(t("error", {msg: typeof msg === "string" ? msg : JSON.stringify(msg)}), true);
        }
      })
      .catch(function () {
        if (cfg.stations) { finish(ticket, estimate(), true, t("apiFail")); return; }
        if (ticket === state.requests) {
          state.results = []; state.done += 1; renderResults(); setStatus(t("error", {msg: "network"}), true);
        }
      });
  }
  function finish(ticket, results, isEstimate, note) {
    if (ticket !== state.requests) { return; }
    state.results = results;
    state.estimate = isEstimate;
    state.note = note;
    state.active = 0;
    state.done += 1;
    renderResults();
  }

  /* ---- results ---- */
  function fmtDistance(m) {
    return m >= 1000 ? (m / 1000).toFixed(1) + " " + t("km") : Math.round(m) + " " + t("m");
  }
  function renderResults() {
    var list = document.getElementById("yz-results");
    list.innerHTML = "";
    resultLayer.clearLayers();
    routeLayer.clearLayers();
    if (!state.point) { setStatus(t("hint")); return; }
    if (!state.results.length) {
      if (state.done) { setStatus(t("none"), true); }
      return;
    }
    setStatus((state.note ? state.note + " " : "") + t("found", {n: state.results.length}), !!state.note);
    state.results.forEach(function (r, i) {
      var li = el("li", "yz-result" + (i === state.active ? " yz-active" : ""));
      li.dataset.i = String(i);
      var h = el("h2");
      h.appendChild(el("span", "yz-rank", String(i + 1)));
      h.appendChild(el("span", "yz-name", r.name));
      li.appendChild(h);
      var line = el("div");
      line.appendChild(el("span", "yz-time", Math.max(1, Math.round(r.minutes)) + " " + t("min")));
      line.appendChild(document.createTextNode(" · " + fmtDistance(r.meters) + " · " + t(state.mode)));
      if (r.estimate) { line.appendChild(el("span", "yz-est", t("estimate"))); }
      li.appendChild(line);
      var meta = [kindText(r.kind)];
      if (r.hours) { meta.push(t("hours") + " " + r.hours); }
      if (r.address) { meta.push(r.address); }
      li.appendChild(el("div", "yz-meta", meta.filter(Boolean).join(" · ")));
      ((cfg.reports || {})[String(r.id)] || []).forEach(function (rep) {  // accepted worker reports
        li.appendChild(el("div", "yz-report", rep.label + (rep.text ? "：" + rep.text : "")));
      });
      var am = el("div", "yz-amen");
      (r.amenities || []).forEach(function (a) { am.appendChild(el("span", null, amenityText(a))); });
      li.appendChild(am);
      var buttons = el("div", "yz-buttons");
      var rb = el("button", "yz-route-btn", t("route"));
      rb.type = "button";
      rb.addEventListener("click", function () { state.active = i; renderResults(); });
      buttons.appendChild(rb);
      var nav = el("a", "yz-nav", t("nav"));
      nav.href = r.amap_url;
      nav.target = "_blank";
      nav.rel = "noopener";
      buttons.appendChild(nav);
      li.appendChild(buttons);
      list.appendChild(li);
      L.marker(toMap(r.lon, r.lat), {icon: L.divIcon({className: "yz-station-pin yz-result-pin",
        html: "<div>" + (i + 1) + "</div>", iconSize: [26, 26], iconAnchor: [13, 13]}), title: r.name})
        .on("click", function () { state.active = i; renderResults(); })
        .addTo(resultLayer);
    });
    var act = state.results[state.active];
    var line = act.route.map(function (c) { return toMap(c[0], c[1]); });
    if (line.length > 1) {
      L.polyline(line, {color: act.estimate ? "#b45309" : "#1565c0", weight: 5, opacity: 0.85,
        dashArray: act.estimate ? "8 8" : null, className: "yz-route"}).addTo(routeLayer);
    }
    var pts = state.results.map(function (r) { return toMap(r.lon, r.lat); });
    pts.push(toMap(state.point.lon, state.point.lat));
    map.fitBounds(L.latLngBounds(pts).pad(0.15), {maxZoom: 17});
  }

  paintControls();
  window.yizhanFinder = {state: state, map: map, wgs2gcj: wgs2gcj, gcj2wgs: gcj2wgs, setPoint: setPoint};
  var qlon = parseFloat(params.get("lon")), qlat = parseFloat(params.get("lat"));
  if (isFinite(qlon) && isFinite(qlat)) { setPoint([qlon, qlat], "url"); } else { setStatus(t("hint")); }
})();
