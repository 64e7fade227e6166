/* geo_integration map runtime: compact data layers, legend, title and locality search.
 * Part of geo_integration (not third-party code). Every text it receives from Python is
 * already HTML-escaped where it is inserted as HTML; raw text is only set through
 * textContent / value. */
var GI = (function () {
  "use strict";
  var cfg = { dec: ",", thou: ".", nodata: "", lang: "es", shapes: {} };
  var hexGeom = [];

  function setup(options) {
    for (var key in options) {
      if (Object.prototype.hasOwnProperty.call(options, key)) { cfg[key] = options[key]; }
    }
  }

  function num(v, decimals) {
    var parts = Math.abs(v).toFixed(decimals).split(".");
    parts[0] = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, cfg.thou);
    return (v < 0 ? "-" : "") + parts.join(cfg.dec);
  }

  function fmt(v, kind, nullText) {
    if (v === null || v === undefined) { return nullText || cfg.nodata; }
    if (kind === "int") { return num(v, 0); }
    if (kind === "pct") { return num(100 * v, 1) + " %"; }
    if (kind === "min") { return num(v, 1) + " min"; }
    if (kind === "num") { return num(v, 2); }
    return String(v);
  }

  function table(title, rows) {
    var html = title ? '<div class="gi-tip-title">' + title + "</div>" : "";
    html += '<table class="gi-table">';
    for (var i = 0; i < rows.length; i++) {
      html += "<tr><th>" + rows[i][0] + "</th><td>" + rows[i][1] + "</td></tr>";
    }
    return html + "</table>";
  }

  /* Hexagon rings: [lat0, lon0, dlat1, dlon1, ...] in 1e-5 degrees, deltas from the previous
   * vertex. Decoded once per map and shared by every hexagon layer. */
  function setHexes(encoded) {
    hexGeom = encoded.map(function (e) {
      var lat = e[0], lon = e[1], ring = [[lat / 1e5, lon / 1e5]];
      for (var i = 2; i < e.length; i += 2) {
        lat += e[i];
        lon += e[i + 1];
        ring.push([lat / 1e5, lon / 1e5]);
      }
      return ring;
    });
  }

  function hexTip(spec, n) {
    var suppressed = spec.sc >= 0 && spec.c[n] === spec.sc;
    var rows = spec.f.map(function (field, k) {
      var v = spec.v[k][n];
      if (field[1] === "cls") { return [field[0], v === null ? cfg.nodata : field[2][v]]; }
      return [field[0], fmt(v, field[1], suppressed ? spec.st : cfg.nodata)];
    });
    return table(spec.t, rows);
  }

  function hexes(group, spec) {
    var tip = function (layer) { return hexTip(spec, layer._giN); };
    for (var n = 0; n < spec.i.length; n++) {
      var poly = L.polygon(hexGeom[spec.i[n]], {
        color: "#444", weight: 0.4, opacity: 0.5,
        fillColor: spec.p[spec.c[n]], fillOpacity: spec.o
      });
      poly._giN = n;
      poly.bindTooltip(tip, { sticky: true });
      group.addLayer(poly);
    }
  }

  function polygons(group, spec) {
    var layer = L.geoJSON(spec.fc, {
      interactive: spec.f.length > 0,
      style: function (feature) { return spec.s[feature.properties.s]; },
      onEachFeature: function (feature, lyr) {
        if (!spec.f.length) { return; }
        lyr.bindTooltip(function () {
          var props = feature.properties;
          return table(props.n, spec.f.map(function (lab, k) { return [lab, props.t[k]]; }));
        }, { sticky: true });
      }
    });
    group.addLayer(layer);
  }

  function labels(group, rows) {
    rows.forEach(function (r) {
      group.addLayer(L.marker([r[0], r[1]], {
        icon: L.divIcon({ className: "gi-label", html: "<span>" + r[2] + "</span>", iconSize: null }),
        interactive: false, keyboard: false
      }));
    });
  }

  function symbol(shape, color, text, size) {
    var svg = '<svg xmlns="http://www.w3.org/2000/svg" width="' + size + '" height="' + size +
      '" viewBox="0 0 20 20"><g fill="' + color + '" stroke="#fff" stroke-width="1.3">' +
      (cfg.shapes[shape] || cfg.shapes.circle) + "</g>";
    if (text) {
      svg += '<text x="10" y="13.5" text-anchor="middle" font-size="9" font-weight="bold" fill="#fff">' +
        text + "</text>";
    }
    return svg + "</svg>";
  }

  function points(group, spec) {
    var size = spec.z || 18;
    var icons = spec.s.map(function (s) {
      return L.divIcon({
        className: "gi-sym", html: symbol(s[0], s[1], "", size),
        iconSize: [size, size], iconAnchor: [size / 2, size / 2], popupAnchor: [0, -size / 2]
      });
    });
    var popup = function (layer) {
      var r = layer._giRow;
      return table(r[3], spec.f.map(function (lab, k) { return [lab, r[4 + k]]; }));
    };
    var markers = spec.r.map(function (r) {
      var icon = icons[r[2]];
      if (spec.n) {
        var s = spec.s[r[2]];
        icon = L.divIcon({
          className: "gi-sym", html: symbol(s[0], s[1], String(r[spec.n]), size),
          iconSize: [size, size], iconAnchor: [size / 2, size / 2], popupAnchor: [0, -size / 2]
        });
      }
      var marker = L.marker([r[0], r[1]], { icon: icon, riseOnHover: true });
      marker._giRow = r;
      marker.bindPopup(popup, { maxWidth: 340 });
      return marker;
    });
    if (typeof group.addLayers === "function") {
      group.addLayers(markers);
    } else {
      markers.forEach(function (m) { group.addLayer(m); });
    }
  }

  function clusterIcon(color) {
    return function (cluster) {
      var count = cluster.getChildCount();
      var size = count < 10 ? 30 : count < 100 ? 36 : 42;
      return L.divIcon({
        html: '<div style="background:' + color + '"><span>' + count + "</span></div>",
        className: "marker-cluster gi-cluster", iconSize: L.point(size, size)
      });
    };
  }

  function title(map, spec) {
    var div = L.DomUtil.create("div", "gi-title", map.getContainer());
    div.innerHTML = '<div class="gi-title-main">' + spec.h + "</div>" +
      '<div class="gi-title-sub">' + spec.s + "</div>";
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    window.GI_MAP = map;
  }

  function legend(map, spec) {
    var control = L.control({ position: "bottomleft" });
    var sections = [];
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "gi-legend");
      var details = L.DomUtil.create("details", "", div);
      details.open = true;
      L.DomUtil.create("summary", "", details).innerHTML = spec.t;
      spec.s.forEach(function (s) {
        var el = L.DomUtil.create("div", "gi-legend-sec", details);
        el.innerHTML = s.h;
        sections.push([s.l ? window[s.l] : null, el]);
      });
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    control.addTo(map);
    var refresh = function () {
      sections.forEach(function (p) {
        p[1].style.display = !p[0] || map.hasLayer(p[0]) ? "" : "none";
      });
    };
    map.on("overlayadd overlayremove", refresh);
    refresh();
  }

  function key(text) {
    return String(text).normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().trim();
  }

  function search(map, spec) {
    var control = L.control({ position: "topleft" });
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "gi-search leaflet-bar");
      var form = L.DomUtil.create("form", "", div);
      var input = L.DomUtil.create("input", "", form);
      var listId = "gi-search-list-" + L.Util.stamp(div);
      input.type = "search";
      input.placeholder = spec.ph;
      input.setAttribute("aria-label", spec.ph);
      input.setAttribute("list", listId);
      var list = L.DomUtil.create("datalist", "", form);
      list.id = listId;
      spec.items.forEach(function (item) {
        var option = document.createElement("option");
        option.value = item[0];
        list.appendChild(option);
      });
      var button = L.DomUtil.create("button", "", form);
      button.type = "submit";
      button.textContent = spec.go;
      var message = L.DomUtil.create("div", "gi-search-msg", div);
      L.DomEvent.on(form, "submit", function (e) {
        L.DomEvent.preventDefault(e);
        var wanted = key(input.value), exact = null, partial = null;
        spec.items.forEach(function (item) {
          var k = key(item[0]);
          if (k === wanted) { exact = item; } else if (!partial && wanted && k.indexOf(wanted) >= 0) { partial = item; }
        });
        var hit = exact || partial;
        message.textContent = hit ? "" : spec.nf;
        if (hit) { map.fitBounds(hit[1]); }
      });
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    control.addTo(map);
  }

  /* The online basemap degrades to the plain background: on the first tile error it is
   * swapped for the plain layer and a note says why. */
  function basemap(map, spec) {
    var online = window[spec.osm], plain = window[spec.plain], warned = false;
    if (!online || !plain) { return; }
    online.on("tileerror", function () {
      if (warned) { return; }
      warned = true;
      if (map.hasLayer(online)) { map.removeLayer(online); }
      if (!map.hasLayer(plain)) { map.addLayer(plain); }
      var note = L.DomUtil.create("div", "gi-offline-note", map.getContainer());
      note.textContent = spec.msg;
      setTimeout(function () { note.parentNode && note.parentNode.removeChild(note); }, 8000);
    });
  }

  return {
    setup: setup, fmt: fmt, setHexes: setHexes, hexes: hexes, polygons: polygons,
    labels: labels, points: points, clusterIcon: clusterIcon, title: title, legend: legend,
    search: search, basemap: basemap
  };
})();
