#!/usr/bin/env bash
# with_certs.sh CMD ARG... — run CMD with a fresh CA and one certificate for
# localhost (made with openssl in a temporary directory, removed after), each
# @CERTS@ in the arguments replaced by that directory: ca.pem, cert.pem,
# key.pem. For ipm-conformance over tls+tcp:// (both ends present the same
# certificate and verify each other against the CA; mbedtls checks DNS
# names, so the endpoint names localhost).
set -euo pipefail
command -v openssl >/dev/null || { echo "SKIP: openssl is not installed"; exit 77; }
dir=$(mktemp -d /tmp/ipm-certs.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ipm-test-ca \
    -keyout ca.key -out ca.pem >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out req.pem \
    >/dev/null 2>&1
printf 'subjectAltName=DNS:localhost\n' >ext.cnf
openssl x509 -req -in req.pem -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile ext.cnf -out cert.pem >/dev/null 2>&1
cd - >/dev/null
args=()
for a in "$@"; do args+=("${a//@CERTS@/$dir}"); done
"${args[@]}"
