#!/bin/sh
# Installs every Debian 12 package Petrel's build, tests and benchmarks need.
# Idempotent and non-interactive; called by scripts/run-dev.sh, scripts/test.sh
# and .ci/run. Set PETREL_SKIP_DEPS=1 to skip (e.g. on a machine you manage).
set -eu

[ "${PETREL_SKIP_DEPS:-0}" = 1 ] && exit 0

PACKAGES="
  build-essential cmake pkg-config git
  libuv1-dev liblmdb-dev libssl-dev openssl libinih-dev zlib1g-dev liblz4-dev
  libsasl2-dev libsasl2-modules libsasl2-modules-db sasl2-bin
  libcmocka-dev clang libclang-rt-14-dev
  libc-ares-dev libpsl-dev publicsuffix libjansson-dev
  python3 python3-pytest python3-spf python3-dkim python3-dnslib python3-dnspython python3-nacl
  swaks postfix
  dovecot-imapd dovecot-pop3d dovecot-lmtpd
  isync mutt tmux fetchmail
"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "deps: installing:$missing" >&2

# Debian's dovecot packages start a system-wide Dovecot on 143/993/110/995 when
# installed; the benchmarks start their own instance on loopback, so keep the
# package's service from starting (only if the machine has no policy of its own).
policy_created=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  policy_created=1
fi
trap '[ $policy_created = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT

export DEBIAN_FRONTEND=noninteractive
# Postfix is only a test client (the tests run a private instance on
# loopback); install it with no system configuration.
echo "postfix postfix/main_mailer_type select No configuration" \
  | $SUDO debconf-set-selections
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
