#!/usr/bin/env bash
# Captures the TLS ClientHello that Debian's Chromium and Firefox send today, so our TLS
# clients (transports/tlskit) look like the current browsers rather than utls's built-in
# (older) profiles.
#
# Everything stays on loopback: each browser is pointed at a real-looking name that its
# resolver maps to 127.0.0.1, where a small Go listener records the first ClientHello.
# Writes transports/tlskit/hellos/<browser>-<major>.hello, replacing that browser's older
# capture: the toolkit embeds and ships these files, and its tests compare our hellos with
# them. Re-run it whenever Debian updates the browsers, then run
# `go test ./transports/tlskit/ ./probes/censor/` (the censor's allow list names the
# browsers' JA4) and commit the directory.
#
# Usage: scripts/capture-hellos.sh [SNI]     (default SNI: www.wikipedia.org)
set -euo pipefail

sni="${1:-www.wikipedia.org}"
root="$(cd "$(dirname "$0")/.." && pwd)"
hellos="$root/transports/tlskit/hellos"
work="$(mktemp -d)"
browser_pid=""
cleanup() {
	if [ -n "$browser_pid" ]; then kill "$browser_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

install_browsers() {
	local want=()
	command -v chromium >/dev/null || want+=(chromium)
	if ! command -v firefox-esr >/dev/null && apt-cache show firefox-esr >/dev/null 2>&1; then
		want+=(firefox-esr)
	fi
	if [ ${#want[@]} -gt 0 ]; then
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}"
	fi
}

# capture NAME VERSION CMD...: runs the listener, then the browser command with the URL
# appended, and stores the ClientHello as NAME-VERSION.hello.
capture() {
	local name="$1" version="$2"
	shift 2
	local out="$work/$name.hello" portfile="$work/$name.port"
	go build -o "$work/hellocapture" "$root/transports/tlskit/internal/hellocapture"
	"$work/hellocapture" -addr 127.0.0.1:0 -out "$out" -portfile "$portfile" -timeout 60s &
	local capture_pid=$!
	for _ in $(seq 100); do [ -s "$portfile" ] && break; sleep 0.1; done
	local port
	port="$(cat "$portfile")"
	"$@" "https://$sni:$port/" >"$work/$name.log" 2>&1 &
	browser_pid=$!
	if ! wait "$capture_pid"; then
		echo "capture-hellos: no ClientHello from $name; its log:" >&2
		tail -20 "$work/$name.log" >&2
		exit 1
	fi
	kill "$browser_pid" 2>/dev/null || true
	wait "$browser_pid" 2>/dev/null || true
	browser_pid=""

	mkdir -p "$hellos"
	find "$hellos" -name "$name-*.hello" ! -name "$name-$version.hello" -delete
	cp "$out" "$hellos/$name-$version.hello"
	echo "captured $name $version: $(wc -c <"$out") bytes -> $hellos/$name-$version.hello"
}

install_browsers

chromium_version="$(chromium --version 2>/dev/null | grep -oE '[0-9]+\.[0-9.]+' | head -1 | cut -d. -f1)"
capture chromium "$chromium_version" chromium \
	--headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$work/chromium-profile" \
	--host-resolver-rules="MAP * 127.0.0.1"

if command -v firefox-esr >/dev/null; then
	firefox_version="$(firefox-esr --version 2>/dev/null | grep -oE '[0-9]+\.[0-9.]+' | head -1 | cut -d. -f1)"
	profile="$work/firefox-profile"
	mkdir -p "$profile"
	# Resolve every name to loopback and switch off the background services Firefox would
	# otherwise reach out to (DoH, captive portal, telemetry, updates, safe browsing).
	cat >"$profile/user.js" <<'PREFS'
user_pref("network.dns.forceResolve", "127.0.0.1");
user_pref("network.trr.mode", 5);
user_pref("network.proxy.type", 0);
user_pref("network.http.http3.enable", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("app.update.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("browser.shell.checkDefaultBrowser", false);
PREFS
	capture firefox "$firefox_version" firefox-esr --headless --no-remote --profile "$profile"
else
	echo "capture-hellos: firefox-esr is not packaged here; skipping Firefox" >&2
fi
