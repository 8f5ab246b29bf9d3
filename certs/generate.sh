#!/usr/bin/env bash
# Recreates the test material in this folder with the openssl CLI: one development CA
# per provider and, for each of pec-a.test and pec-b.test, an S/MIME signing certificate
# in the RFC 6109 §5.5 profile and a TLS server certificate. Test material only: these
# keys are public and must never sign anything real.
set -euo pipefail
cd "$(dirname "$0")"
days=7300   # 20 years, so the committed test material does not expire under the tests

make_provider() {
  local domain=$1 name=$2 dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
    -subj "/C=IT/O=$name/CN=$name Dev CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null

  cat > "$dir/signing.ext" <<EXT
keyUsage = critical, digitalSignature
extendedKeyUsage = emailProtection
subjectAltName = email:posta-certificata@$domain
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXT
  openssl req -new -newkey rsa:2048 -nodes -subj "/C=IT/O=$name/CN=Posta Certificata $name" \
    -keyout "$dir/signing.key" -out "$dir/signing.csr" 2>/dev/null
  openssl x509 -req -in "$dir/signing.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
    -extfile "$dir/signing.ext" -out "$dir/signing.pem" 2>/dev/null

  cat > "$dir/tls.ext" <<EXT
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:$domain, DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXT
  openssl req -new -newkey rsa:2048 -nodes -subj "/C=IT/O=$name/CN=$domain" \
    -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
  openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
    -extfile "$dir/tls.ext" -out "$dir/tls.pem" 2>/dev/null
  rm -f "$dir"/*.csr "$dir"/*.ext
}

make_provider pec-a.test "Gestore A S.p.A."
make_provider pec-b.test "Gestore B S.p.A."
echo "test material written under $(pwd)"
