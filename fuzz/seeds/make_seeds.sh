#!/bin/sh
# Writes small seed inputs for the crypto/backup targets into corpus/<target>/, using gpg and
# openssl (keys and certificates made here are throw-away; the targets make their own keys,
# so these seeds exercise parsing and the "no key of ours" paths, except backup_open_key,
# whose seed carries its own key and reaches the backup document decoder).
# Run from fuzz/: sh seeds/make_seeds.sh
set -eu
out=$(pwd)/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GNUPGHOME="$tmp/gnupg"
mkdir -m 700 "$GNUPGHOME"
g() { gpg --batch --quiet --pinentry-mode loopback --passphrase '' "$@"; }
for t in mime_split pgpmime_open openpgp_parse smime_open backup_open backup_open_key; do
    mkdir -p "$out/$t"
done

# --- OpenPGP: a user key (Ed25519 + Cv25519) and an organization key ---
g --quick-gen-key 'Fuzz <fuzz@example.org>' ed25519 sign,cert never
fpr=$(gpg --batch --with-colons --list-keys fuzz@example.org | awk -F: '/^fpr/ {print $10; exit}')
g --quick-add-key "$fpr" cv25519 encr never
g --quick-gen-key 'example.org Organization Key <pgp-universal-admin@example.org>' ed25519 sign,cert never
ofpr=$(gpg --batch --with-colons --list-keys pgp-universal-admin@example.org | awk -F: '/^fpr/ {print $10; exit}')
g --quick-add-key "$ofpr" cv25519 encr never

g --armor --export fuzz@example.org > "$out/openpgp_parse/seed-public.asc"
g --export fuzz@example.org > "$out/openpgp_parse/seed-public.pgp"
g --armor --export-secret-keys fuzz@example.org > "$out/openpgp_parse/seed-secret.asc"
printf 'hello\n' > "$tmp/plain.txt"
g --rfc4880 --armor --sign --encrypt -r fuzz@example.org -u fuzz@example.org -o "$tmp/msg.asc" "$tmp/plain.txt"
cp "$tmp/msg.asc" "$out/openpgp_parse/seed-message.asc"
g --armor --clearsign -u fuzz@example.org -o "$tmp/clear.asc" "$tmp/plain.txt"

crlf() { sed 's/$/\r/'; }
hdr='From: fuzz@example.org\nTo: fuzz@example.org\nSubject: seed\nMIME-Version: 1.0\n'
# PGP/MIME encrypted (RFC 3156)
{
    printf "$hdr"
    printf 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b1"\n\n'
    printf -- '--b1\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n'
    printf -- '--b1\nContent-Type: application/octet-stream; name="encrypted.asc"\n\n'
    cat "$tmp/msg.asc"
    printf -- '--b1--\n'
} | crlf > "$out/pgpmime_open/seed-pgpmime-encrypted.eml"
# PGP/MIME signed
printf 'Content-Type: text/plain\r\n\r\nhello\r\n' > "$tmp/signed-part"
g --armor --detach-sign -u fuzz@example.org -o "$tmp/sig.asc" "$tmp/signed-part"
{
    printf "$hdr" | crlf
    printf 'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; boundary="b2"\r\n\r\n'
    printf -- '--b2\r\n'
    cat "$tmp/signed-part"
    printf -- '\r\n--b2\r\nContent-Type: application/pgp-signature\r\n\r\n'
    crlf < "$tmp/sig.asc"
    printf -- '--b2--\r\n'
} > "$out/pgpmime_open/seed-pgpmime-signed.eml"
# Inline (partitioned)
{ printf "$hdr"; printf 'Content-Type: text/plain\n\n'; cat "$tmp/clear.asc"; } | crlf > "$out/pgpmime_open/seed-inline-clearsigned.eml"
cp "$out/pgpmime_open/seed-pgpmime-signed.eml" "$out/mime_split/seed-pgpmime-signed.eml"

# --- Backups: a binary OpenPGP message whose plaintext is a postcard BackupDocument ---
# format "signet-backup 1", created_at 0, cluster_id "", node_id 0, data_key [0; 32],
# entries [], node_settings [].
{
    printf '\017signet-backup 1\000\000\000\040'
    head -c 32 /dev/zero
    printf '\000\000'
} > "$tmp/backup.postcard"
g --rfc4880 --encrypt -r pgp-universal-admin@example.org -o "$tmp/backup.pgp" "$tmp/backup.postcard"
cp "$tmp/backup.pgp" "$out/backup_open/seed-backup.pgp"
g --armor --export-secret-keys pgp-universal-admin@example.org > "$tmp/org.asc"
python3 - "$tmp/org.asc" "$tmp/backup.pgp" "$out/backup_open_key/seed-key-and-backup" <<'PY'
import sys
key = open(sys.argv[1], 'rb').read(); backup = open(sys.argv[2], 'rb').read()
open(sys.argv[3], 'wb').write(len(key).to_bytes(2, 'big') + key + backup)
PY

# --- S/MIME: a throw-away RSA CA and user certificate, enveloped and signed messages ---
cd "$tmp"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 365 -subj '/CN=Fuzz CA' \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout user.key -out user.csr -subj '/CN=fuzz/emailAddress=fuzz@example.org' 2>/dev/null
printf 'subjectAltName=email:fuzz@example.org\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\n' > ext
openssl x509 -req -in user.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 -extfile ext -out user.pem 2>/dev/null
cp user.pem "$out/smime_open/seed-cert.pem"
openssl x509 -in user.pem -outform DER -out "$out/smime_open/seed-cert.der"
printf 'Content-Type: text/plain\r\n\r\nhello\r\n' > part
openssl smime -encrypt -aes256 -in part -from fuzz@example.org -to fuzz@example.org -subject seed user.pem | crlf > "$out/smime_open/seed-enveloped.eml"
openssl smime -sign -in part -signer user.pem -inkey user.key -certfile ca.pem -from fuzz@example.org -to fuzz@example.org -subject seed | crlf > "$out/smime_open/seed-signed-detached.eml"
openssl smime -sign -nodetach -in part -signer user.pem -inkey user.key -from fuzz@example.org -to fuzz@example.org -subject seed | crlf > "$out/smime_open/seed-signed-opaque.eml"
ls -l "$out"/*/seed-*

# --- smtp_auth: AUTH dialogues on an encrypted session (user alice, passphrase secret) ---
mkdir -p "$out/smtp_auth"
printf 'EHLO c\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n' > "$out/smtp_auth/seed-plain"
printf 'EHLO c\r\nAUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nAUTH PLAIN\r\n*\r\nQUIT\r\n' > "$out/smtp_auth/seed-plain-continued"
printf 'EHLO c\r\nMAIL FROM:<a@b.c>\r\nAUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\nAUTH LOGIN YWxpY2U=\r\nd3Jvbmc=\r\n' > "$out/smtp_auth/seed-login"
printf 'EHLO c\r\nAUTH PLAIN AGFsaWNlAGd1ZXNz\r\nAUTH LOGIN\r\n!!\r\nAUTH CRAM-MD5\r\nAUTH PLAIN =\r\n' > "$out/smtp_auth/seed-failures"
