#!/usr/bin/env bash
# A private CA and certificates for EdgeDNS control connections, made with the
# openssl command line (docs/operations.md walks through the same steps).
#   scripts/pki.sh ca DIR [CN]                 -> DIR/ca.crt, DIR/ca.key
#   scripts/pki.sh cert DIR NAME [DAYS [CADIR]] -> DIR/NAME.crt, DIR/NAME.key
# Keys are EC P-256. A certificate names NAME in its subject CN and as a SAN
# DNS name, is good for server and client use (a node and edgectl alike), is
# signed by CADIR's CA (default DIR) and is valid for DAYS (default 825; a
# negative number makes one that has already expired, for tests).
set -euo pipefail

die() { echo "pki.sh: $*" >&2; exit 2; }
[ $# -ge 2 ] || die "usage: pki.sh ca DIR [CN] | pki.sh cert DIR NAME [DAYS [CADIR]]"
cmd=$1 dir=$2
mkdir -p "$dir"
umask 077  # private keys are readable by their owner only

case $cmd in
  ca)
    cn=${3:-edgedns-ca}
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 3650 -subj "/CN=$cn" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      2>/dev/null
    chmod 644 "$dir/ca.crt"
    ;;
  cert)
    [ $# -ge 3 ] || die "cert needs a NAME"
    name=$3 days=${4:-825} cadir=${5:-$dir}
    [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "name '$name': letters, digits, '.', '_' and '-' only"
    [ -f "$cadir/ca.crt" ] && [ -f "$cadir/ca.key" ] || die "no CA in $cadir (run: pki.sh ca $cadir)"
    ext=$(mktemp)
    trap 'rm -f "$ext" "$dir/$name.csr"' EXIT
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=DNS:$name" >"$ext"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$name" 2>/dev/null
    openssl x509 -req -in "$dir/$name.csr" -CA "$cadir/ca.crt" -CAkey "$cadir/ca.key" \
      -CAcreateserial -days "$days" -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
    chmod 644 "$dir/$name.crt"
    ;;
  *) die "unknown command '$cmd'" ;;
esac
