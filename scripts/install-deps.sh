#!/usr/bin/env bash
# Installs the system packages clubnode needs to build and test on Debian:
# cgo's pkg-config and libopus (audio), iproute2, iptables and procps
# (sysctl) for the network-namespace NAT lab of internal/netlab,
# chromium and firefox-esr (the web UI's browser tests drive both
# headless) and zbar-tools (zbarimg reads back the invite QR codes those
# tests draw).
# Go itself (1.26 or newer) must already be on PATH.
set -euo pipefail
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive
sudo_if_needed apt-get update -qq
sudo_if_needed apt-get install -y -qq --no-install-recommends \
	gcc pkg-config libopus-dev libopusfile-dev iproute2 iptables procps ca-certificates \
	chromium firefox-esr zbar-tools >/dev/null
command -v go >/dev/null || { echo "Go 1.26 or newer is needed on PATH (https://go.dev/dl/)" >&2; exit 1; }
