#!/usr/bin/env bash
# Makes a private CA and one certificate per Lifeboat process (monitors and agents), for the
# `tls:` section of lifeboat.yml and agent.yml. Each certificate names the process's addresses in
# subjectAltName (what clients check against the URL they call) and serves as both a server and
# a client certificate (for `client_certificates: require`).
#
#   deploy/tls/make-certs.sh DIR NAME=ADDRESS[,ADDRESS...] [NAME=ADDRESS...]
#   deploy/tls/make-certs.sh /etc/lifeboat/tls monitor-fra=10.0.1.5 db-fra=10.0.1.10 db-ams=10.0.2.10,db-ams.internal
#
# writes DIR/ca.crt (give it to every process as ca_file), DIR/ca.key (keep it offline), and
# DIR/NAME.crt + DIR/NAME.key for each NAME (copy to that host only; the key is mode 0600).
# An ADDRESS that parses as an IPv4 or IPv6 address becomes IP:..., anything else DNS:....
# An existing CA in DIR is reused, so you can add a process later. Needs openssl.
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 2 ]] || usage
command -v openssl >/dev/null || { echo "make-certs.sh: openssl is not installed (apt-get install openssl)" >&2; exit 1; }
dir=$1; shift
days=${LIFEBOAT_CERT_DAYS:-825}
mkdir -p "$dir"
umask 077

if [[ ! -f $dir/ca.crt || ! -f $dir/ca.key ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$days" \
        -subj "/CN=Lifeboat CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    chmod 0644 "$dir/ca.crt"
    echo "made $dir/ca.crt (the CA every process trusts: ca_file) and $dir/ca.key (keep it offline)"
fi

for spec in "$@"; do
    name=${spec%%=*}
    addresses=${spec#*=}
    if [[ -z $name || $name == "$spec" || -z $addresses || ! $name =~ ^[A-Za-z0-9._-]+$ ]]; then
        echo "make-certs.sh: expected NAME=ADDRESS[,ADDRESS...] with NAME of letters, digits, . _ -, found '$spec'" >&2
        exit 2
    fi
    san=""
    IFS=, read -r -a list <<<"$addresses"
    for address in "${list[@]}"; do
        if [[ $address =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ || $address == *:* ]]; then kind=IP; else kind=DNS; fi
        san+="${san:+,}$kind:$address"
    done
    extensions=$(mktemp)
    trap 'rm -f "$extensions"' EXIT
    printf '%s\n' "subjectAltName=$san" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth,clientAuth" >"$extensions"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
        -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days "$days" \
        -extfile "$extensions" -out "$dir/$name.crt" 2>/dev/null
    rm -f "$dir/$name.csr" "$extensions"
    chmod 0644 "$dir/$name.crt"
    chmod 0600 "$dir/$name.key"
    echo "made $dir/$name.crt and $dir/$name.key for $san"
done
