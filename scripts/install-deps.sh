#!/usr/bin/env bash
# Installs the system packages clubnode needs to build and test on Debian:
# cgo's pkg-config and libopus (audio), iproute2, iptables and procps
# (sysctl) for the network-namespace NAT lab of internal/netlab,
# chromium and firefox-esr (the web UI's browser tests drive both
# headless), zbar-tools (zbarimg reads back the invite QR codes those
# tests draw), systemd (systemd-analyze checks contrib/systemd's unit), jq
# (scripts/flakes.sh counts failures in go test's JSON) and
# GStreamer's webrtcbin with its Python bindings (the WHIP/WHEP interop
# test speaks and records through a WebRTC stack clubnode did not write).
# Go itself (1.26 or newer) must already be on PATH.
set -euo pipefail
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive
sudo_if_needed apt-get update -qq
sudo_if_needed apt-get install -y -qq --no-install-recommends \
	gcc pkg-config libopus-dev libopusfile-dev iproute2 iptables procps ca-certificates \
	chromium firefox-esr zbar-tools systemd jq \
	gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-nice \
	gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0 python3-gi >/dev/null
command -v go >/dev/null || { echo "Go 1.26 or newer is needed on PATH (https://go.dev/dl/)" >&2; exit 1; }
