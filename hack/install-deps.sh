#!/usr/bin/env bash
# Installs what a fresh machine lacks for `make up` and `make test`: Debian packages (openssl;
# prometheus for promtool and the test Prometheus; prometheus-alertmanager for amtool and the
# test Alertmanager; redis-server; postgresql; lua5.1, the
# language of Argo CD's health checks, which the tests run the scripts with) and the npm
# dependencies. Go is checked, not installed: the cluster build names what to do without it.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v lua5.1 >/dev/null || missing+=(lua5.1)

if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "Installing Debian packages: ${missing[*]}" >&2
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Missing Debian packages: ${missing[*]}. Install them (apt-get install ${missing[*]}) and retry." >&2
    exit 1
  fi
fi

if [[ ! -f node_modules/.installed || package-lock.json -nt node_modules/.installed ]]; then
  npm ci --no-audit --no-fund
  touch node_modules/.installed
fi
