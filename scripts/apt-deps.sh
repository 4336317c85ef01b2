#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Install the Debian packages named as arguments that are not installed
# yet (used by `make deps` and `make deps-test`; run as root).
#
# Installing a web server on Debian starts it on port 80. These packages
# are here for the demo and the tests, which start their own servers on
# their own ports, so nothing is started: while apt-get runs, a
# policy-rc.d (unless one exists already) tells the packages' scripts not
# to start services, and the web servers installed now are disabled so
# that they do not start at the next boot either. Servers that were
# installed before are left as they are.
set -eu

missing=""
for p in "$@"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" != 0 ]; then
	echo "missing Debian packages:$missing" >&2
	echo "run \`make deps\` (or \`make deps-test\`) as root, or install them" >&2
	exit 1
fi

echo "installing:$missing"
policy=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# written by sse-outbox make deps while it installs packages\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	ours=1
	trap 'rm -f "$policy"' EXIT INT TERM
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $missing

for p in $missing; do
	case "$p" in
	apache2) unit=apache2 ;;
	lighttpd) unit=lighttpd ;;
	nginx|nginx-light|nginx-core|nginx-full) unit=nginx ;;
	*) continue ;;
	esac
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now "$unit" >/dev/null 2>&1 || true
	fi
	echo "installed $p for sse-outbox's demo and tests; its service is" \
		"not started and not enabled (systemctl enable --now $unit to run it)"
done
[ -z "$ours" ] || rm -f "$policy"
