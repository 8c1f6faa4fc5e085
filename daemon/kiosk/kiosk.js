/* The kiosk page (issue 12): renders the view (daemon/kiosk.h) that swapd
 * streams as server-sent events. Every string shown comes from the view, so
 * the page holds no text of its own: a station in another market changes
 * the catalogue, not this file. Strings go in with textContent only. */
"use strict";

(function () {
	var view = null;
	var walkinTimer = null;
	var JOIN_SHOW_MS = 60000;
	/* The arguments the number pad asks for (the staff commands' ints). */
	var NUMERIC = { slot: true, swap: true };

	function $(id) { return document.getElementById(id); }

	function t(key) { return view && view.text && view.text[key] ? view.text[key] : ""; }

	function el(tag, cls, text) {
		var e = document.createElement(tag);
		if (cls) e.className = cls;
		if (text !== undefined && text !== null) e.textContent = String(text);
		return e;
	}

	function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }

	function show(e, on) { e.hidden = !on; }

	function renderServing(list) {
		var ul = clear($("serving"));
		$("headline").textContent = list.length ? list[0].headline : "";
		list.forEach(function (s) {
			var li = el("li", "serving action-" + s.action);
			li.appendChild(el("span", "ticket", s.ticket));
			li.appendChild(el("span", "rider", s.rider));
			li.appendChild(el("span", "what", s.headline));
			li.appendChild(el("span", "slotno", s.slot));
			ul.appendChild(li);
		});
	}

	function renderQueue(list) {
		var ol = clear($("queue"));
		if (!list.length) ol.appendChild(el("li", "empty", t("queue_empty")));
		list.forEach(function (q) {
			var li = el("li", "arrival-" + q.arrival);
			li.appendChild(el("span", "position", q.position));
			li.appendChild(el("span", "ticket", q.ticket));
			li.appendChild(el("span", "eta", q.eta));
			ol.appendChild(li);
		});
	}

	function renderScan(scan) {
		var s = $("scan");
		show(s, !!scan);
		if (!scan) return;
		s.textContent = scan.text;
		s.className = scan.result === "ok" ? "ok" : "refused";
	}

	function renderSlots(list) {
		var box = clear($("slots"));
		list.forEach(function (s) {
			var d = el("div", "tile " + s.state + (s.alarm ? " alarm" : ""));
			d.appendChild(el("span", "number", s.slot));
			d.appendChild(el("span", "label", s.label));
			if (s.soc !== null && s.soc !== undefined)
				d.appendChild(el("span", "soc", Math.round(s.soc) + "%"));
			box.appendChild(d);
		});
	}

	function renderAlarms(list) {
		var box = clear($("alarms"));
		show(box, list.length > 0);
		list.forEach(function (a) { box.appendChild(el("p", "alarm", a.text)); });
	}

	function textList(box, title, items, line) {
		if (!items || !items.length) return;
		box.appendChild(el("h3", null, title));
		var ul = el("ul");
		items.forEach(function (i) { ul.appendChild(el("li", null, line(i))); });
		box.appendChild(ul);
	}

	function renderStaff(staff) {
		var box = $("staff");
		var keep = $("reply");
		show(box, !!staff);
		if (!staff) { clear(box); return; }
		var msg = keep ? keep.textContent : "", cls = keep ? keep.className : "";
		clear(box);
		box.appendChild(el("h2", null, t("staff") + " " + staff.id));
		var bar = el("div", "actions");
		staff.actions.forEach(function (a) {
			var b = el("button", "action", a.label);
			b.type = "button";
			b.dataset.cmd = a.cmd;
			b.addEventListener("click", function () { act(a); });
			bar.appendChild(b);
		});
		box.appendChild(bar);
		var reply = el("p", cls, msg);
		reply.id = "reply";
		box.appendChild(reply);
		textList(box, t("faults"), staff.faults, function (f) { return f.text; });
		textList(box, t("tickets"), staff.tickets, function (k) { return k.text; });
		textList(box, t("swaps"), staff.swaps, function (w) {
			return w.swap + " " + w.stage + " " + w.slot_in + " → " + w.slot_out;
		});
	}

	function renderWalkin(w) {
		var b = $("join");
		show(b, !!(w && w.enabled));
		b.textContent = t("join");
		b.title = w ? w.text : "";
	}

	function render(v) {
		view = v;
		document.documentElement.lang = v.lang || "en";
		document.documentElement.dir = v.dir || "ltr";
		if (t("title")) document.title = t("title");
		Array.prototype.forEach.call(document.querySelectorAll("[data-text]"), function (e) {
			e.textContent = t(e.dataset.text);
		});
		$("ask-ok").textContent = t("run");
		$("ask-cancel").textContent = t("cancel");
		renderServing(v.serving || []);
		renderQueue(v.queue || []);
		renderScan(v.scan);
		renderSlots(v.slots || []);
		renderAlarms(v.alarms || []);
		renderStaff(v.staff);
		renderWalkin(v.walkin);
	}

	/* POSTs a command as the kiosk; calls done with the control reply. */
	function command(cmd, args, done) {
		fetch("/api/command", {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({ cmd: cmd, args: args || {} })
		}).then(function (r) { return r.json(); })
			.then(done, function () { done({ ok: false, message: t("offline") }); });
	}

	function say(reply) {
		var p = $("reply");
		if (!p) return;
		var r = reply.result || {};
		p.className = reply.ok ? "ok" : "refused";
		p.textContent = reply.message || r.message || (reply.ok ? t("done") : reply.error || "");
	}

	/* The number pad: digits into the field, a key to take one back. */
	function numberPad(input) {
		var pad = el("div", "pad");
		"1234567890".split("").forEach(function (d) {
			var b = el("button", null, d);
			b.type = "button";
			b.addEventListener("click", function () { input.value += d; });
			pad.appendChild(b);
		});
		var back = el("button", "back", "⌫");
		back.type = "button";
		back.addEventListener("click", function () { input.value = input.value.slice(0, -1); });
		pad.appendChild(back);
		return pad;
	}

	function act(a) {
		if (!a.args.length) { command(a.cmd, {}, say); return; }
		var form = $("ask"), fields = clear($("ask-fields"));
		$("ask-title").textContent = a.label;
		a.args.forEach(function (name) {
			var label = el("label", null, t("arg_" + name) || name);
			var input = el("input");
			input.name = name;
			input.required = name !== "reason";
			if (NUMERIC[name]) { input.inputMode = "numeric"; input.readOnly = true; }
			label.appendChild(input);
			fields.appendChild(label);
			if (NUMERIC[name]) fields.appendChild(numberPad(input));
		});
		form.onsubmit = function (e) {
			e.preventDefault();
			var args = {};
			a.args.forEach(function (name) {
				var v = form.elements[name].value;
				if (v === "") return;
				args[name] = NUMERIC[name] ? Number(v) : v;
			});
			show(form, false);
			command(a.cmd, args, say);
		};
		show(form, true);
	}

	function join() {
		command("kiosk-join", {}, function (reply) {
			var box = clear($("walkin"));
			if (!reply.ok) {
				box.appendChild(el("p", "refused", reply.message));
			} else {
				var r = reply.result, img = el("img");
				img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(r.svg);
				img.alt = r.ticket;
				box.appendChild(img);
				box.appendChild(el("p", "ticket", t("ticket") + " " + r.ticket));
				box.appendChild(el("p", "position", t("position") + " " + r.position));
				if (r.eta) box.appendChild(el("p", "eta", r.eta));
			}
			show(box, true);
			clearTimeout(walkinTimer);
			walkinTimer = setTimeout(function () { show(clear(box), false); }, JOIN_SHOW_MS);
		});
	}

	function connect() {
		var conn = $("conn");
		/* EventSource reconnects by itself after swapd restarts; the stream
		 * then starts with the whole view again. */
		var es = new EventSource("/api/events");
		es.addEventListener("view", function (e) {
			show(conn, false);
			render(JSON.parse(e.data));
		});
		es.onopen = function () { show(conn, false); };
		es.onerror = function () {
			conn.textContent = t("offline");
			show(conn, conn.textContent !== "");
		};
	}

	document.addEventListener("DOMContentLoaded", function () {
		$("join").addEventListener("click", join);
		$("ask-cancel").addEventListener("click", function () { show($("ask"), false); });
		fetch("/api/view").then(function (r) { return r.json(); }).then(function (v) {
			if (!view || v.version > view.version) render(v);
		}, function () {});
		connect();
	});
})();
