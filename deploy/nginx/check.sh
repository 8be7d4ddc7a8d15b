#!/usr/bin/env bash
# `nginx -t` for the example site (deploy/nginx/infusionclinic.conf) without installing it: a
# throw-away self-signed certificate stands in for the real one. Needs nginx and openssl.
set -euo pipefail
site="$(cd "$(dirname "$0")" && pwd)/infusionclinic.conf"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=clinic.example.org \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
sed -e "s#/etc/ssl/certs/clinic.example.org.pem#$tmp/cert.pem#" \
    -e "s#/etc/ssl/private/clinic.example.org.key#$tmp/key.pem#" "$site" >"$tmp/site.conf"
printf 'pid %s/nginx.pid;\nerror_log %s/error.log;\nevents {}\nhttp { include %s/site.conf; }\n' \
  "$tmp" "$tmp" "$tmp" >"$tmp/nginx.conf"
nginx -t -p "$tmp" -c "$tmp/nginx.conf"
