#!/bin/sh
# mkcerts.sh DIR - test keys and certificates for the Google API emulator.
#
# TEST FIXTURE. Creates, in DIR, with the openssl command only (no network):
#   ca.pem, ca.key                  test CA that the tests trust
#   server.pem, server.key          server certificate for 127.0.0.1, ::1 and localhost,
#                                   signed by ca (server.pem holds only the leaf)
#   wrong-ca.pem, wrong-ca.key      a second CA that nothing trusts
#   wrong-server.pem, wrong-server.key
#                                   same names, signed by wrong-ca ("wrong certificate" test)
#   sa.key, sa_pub.pem              service-account key pair (RSA 2048; PKCS#8 private key)
#   sa.json                         Google-style service-account key file (mode 0600)
#   sa-pkcs1.json                   the same account with an older PKCS#1 "BEGIN RSA PRIVATE KEY"
#   sa-wrongkey.json                the same client_email with a different key: the token
#                                   endpoint must answer "Invalid JWT Signature."
#
# The key files' token_uri is Google's real "https://oauth2.googleapis.com/token":
# the emulator's port is not known yet.  Tests point the module at the emulator
# with its token-URL / API-base configuration; the emulator accepts both that
# audience and its own https://127.0.0.1:PORT/token in the JWT.
#
# Idempotent: when every file exists and the certificates are valid for at
# least another day, nothing is changed.
set -eu

dir=${1:?usage: mkcerts.sh DIR}
email=${SA_CLIENT_EMAIL:-sa@test-project.iam.gserviceaccount.com}
project=${SA_PROJECT_ID:-test-project}

mkdir -p "$dir"
cd "$dir"

all_present() {
    for f in ca.pem ca.key server.pem server.key wrong-ca.pem wrong-ca.key \
             wrong-server.pem wrong-server.key sa.key sa_pub.pem sa.json \
             sa-pkcs1.json sa-wrongkey.json; do
        [ -s "$f" ] || return 1
    done
    for c in ca.pem server.pem wrong-ca.pem wrong-server.pem; do
        openssl x509 -in "$c" -noout -checkend 86400 >/dev/null 2>&1 || return 1
    done
    grep -q "\"client_email\": \"$email\"" sa.json || return 1
}

if all_present; then
    echo "mkcerts.sh: $dir is up to date"
    exit 0
fi

umask 077
work=$(mktemp -d "${TMPDIR:-/tmp}/mkcerts.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# A CA: self-signed, CA:TRUE, may sign certificates.
make_ca() { # name cn
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -keyout "$work/$1.key" -out "$work/$1.pem" -subj "/O=cetbyod tests/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" 2>/dev/null
}

# A TLS server leaf for the loopback names, signed by a CA.
make_server() { # name ca
    openssl req -new -newkey rsa:2048 -nodes -sha256 \
        -keyout "$work/$1.key" -out "$work/$1.csr" -subj "/O=cetbyod tests/CN=127.0.0.1" 2>/dev/null
    cat >"$work/$1.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
    openssl x509 -req -in "$work/$1.csr" -CA "$work/$2.pem" -CAkey "$work/$2.key" \
        -CAcreateserial -days 825 -sha256 -extfile "$work/$1.ext" -out "$work/$1.pem" 2>/dev/null
}

# A service-account key file as the Cloud console writes it.
make_sa_json() { # out keyfile
    key_id=$(openssl rand -hex 20)
    client_id=1$(od -An -N8 -tu8 /dev/urandom | tr -d ' \n' | cut -c1-20)
    pem=$(awk '{ printf "%s\\n", $0 }' "$2")
    local_email=$(printf '%s' "$email" | sed 's/@/%40/')
    cat >"$1" <<EOF
{
  "type": "service_account",
  "project_id": "$project",
  "private_key_id": "$key_id",
  "private_key": "$pem",
  "client_email": "$email",
  "client_id": "$client_id",
  "auth_uri": "https://accounts.google.com/o/oauth2/auth",
  "token_uri": "https://oauth2.googleapis.com/token",
  "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
  "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/$local_email",
  "universe_domain": "googleapis.com"
}
EOF
    chmod 600 "$1"
}

make_ca ca "cetbyod test CA"
make_server server ca
make_ca wrong-ca "untrusted test CA"
make_server wrong-server wrong-ca

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/sa.key" 2>/dev/null
openssl pkey -in "$work/sa.key" -pubout -out "$work/sa_pub.pem"
openssl pkey -in "$work/sa.key" -traditional -out "$work/sa-pkcs1.key" 2>/dev/null \
    || openssl rsa -in "$work/sa.key" -traditional -out "$work/sa-pkcs1.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/sa-wrong.key" 2>/dev/null
make_sa_json "$work/sa.json" "$work/sa.key"
make_sa_json "$work/sa-pkcs1.json" "$work/sa-pkcs1.key"
make_sa_json "$work/sa-wrongkey.json" "$work/sa-wrong.key"
# sa-pkcs1.json is the same key in the older encoding: same key id as sa.json
kid=$(sed -n 's/.*"private_key_id": "\([0-9a-f]*\)".*/\1/p' "$work/sa.json")
sed -i "s/\"private_key_id\": \"[0-9a-f]*\"/\"private_key_id\": \"$kid\"/" "$work/sa-pkcs1.json"

# Sanity: the leaf verifies against its CA, not against the other one.
openssl verify -CAfile "$work/ca.pem" "$work/server.pem" >/dev/null
if openssl verify -CAfile "$work/ca.pem" "$work/wrong-server.pem" >/dev/null 2>&1; then
    echo "mkcerts.sh: wrong-server.pem unexpectedly verifies against ca.pem" >&2
    exit 1
fi

for f in ca.pem ca.key server.pem server.key wrong-ca.pem wrong-ca.key \
         wrong-server.pem wrong-server.key sa.key sa_pub.pem sa.json \
         sa-pkcs1.json sa-wrongkey.json; do
    mv -f "$work/$f" "$f"
done
chmod 644 ca.pem server.pem wrong-ca.pem wrong-server.pem sa_pub.pem
chmod 600 ca.key server.key wrong-ca.key wrong-server.key sa.key sa.json sa-pkcs1.json sa-wrongkey.json
echo "mkcerts.sh: wrote test CA, server certificates and service-account keys to $dir"
