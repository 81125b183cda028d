#!/bin/sh
# Makes this Debian 12 machine able to build and run nodeseal's container
# images with rootful podman, without a registry:
#   - installs podman, runc, mmdebstrap, podman-compose, python3-yaml if missing;
#   - adds to /etc/containers/containers.conf, only where not set already,
#     [containers] default_ulimits (a host without CAP_SYS_RESOURCE refuses
#     podman's default nofile 1048576) and [engine] runtime = "runc" (crun
#     rejects a hybrid cgroup layout); other settings, and the file's mode
#     and owner, are kept as they are (a layout the edit cannot follow is
#     one error, the file left unchanged);
#   - builds the base image debian:12 with mmdebstrap from the Debian mirror
#     apt already uses, if `podman image exists debian:12` says there is none.
# Idempotent: a second run changes nothing.  Run as root.  The base image is
# kept for the next run (remove it with `podman rmi debian:12`).
set -eu

CONF=/etc/containers/containers.conf
BASE=debian:12

if [ "$(id -u)" -ne 0 ]; then
	echo "container-setup: run as root" >&2
	exit 1
fi

# One set-up at a time (tests of several checkouts may start together).
exec 9>/run/lock/nodeseal-container-setup.lock
flock 9

missing=""
for p in podman runc mmdebstrap podman-compose python3-yaml; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "container-setup: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq $missing >/dev/null
fi

# The two settings, each only if its section does not set that key yet.
mkdir -p "$(dirname "$CONF")"
[ -e "$CONF" ] || : >"$CONF"
/usr/bin/python3 - "$CONF" <<'EOF'
import os, re, sys, tomllib
path = sys.argv[1]
want = [("containers", "default_ulimits", '["nofile=20000:20000", "nproc=20000:20000"]'),
        ("engine", "runtime", '"runc"')]
text = open(path, encoding="utf-8").read()
try:
    have = tomllib.loads(text)
except tomllib.TOMLDecodeError as e:
    sys.exit(f"container-setup: {path} is not valid TOML ({e}); fix it by hand")
lines = text.splitlines()
changed = False
for section, key, value in want:
    if key in have.get(section, {}):
        if section == "engine" and have[section][key] != "runc":
            print(f"container-setup: {path}: [engine] runtime is {have[section][key]!r}, "
                  "kept (runc is the one known to work here)", file=sys.stderr)
        continue
    # [name], [ name ], ["name"] or ['name'], as TOML allows.
    name = r"""\s*(?:NAME|"NAME"|'NAME')\s*""".replace("NAME", section)
    hdr = [i for i, l in enumerate(lines) if re.match(r"\s*\[" + name + r"\]\s*(#.*)?$", l)]
    if hdr:
        lines.insert(hdr[0] + 1, f"{key} = {value}")
    else:
        lines += ["", f"[{section}]", f"{key} = {value}"]
    changed = True
if changed:
    new = "\n".join(lines) + "\n"
    # A layout this edit does not follow (the table given by dotted keys,
    # say): one clear error, the file left as it was.
    try:
        tomllib.loads(new)
    except tomllib.TOMLDecodeError as e:
        sys.exit(f"container-setup: {path}: cannot add the settings here ({e}); add by hand "
                 f"{', '.join(f'[{s}] {k} = {v}' for s, k, v in want)}")
    # The new file takes the old one's mode and owner.
    st = os.stat(path)
    tmp = path + ".tmp"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchown(f.fileno(), st.st_uid, st.st_gid)
        os.fchmod(f.fileno(), st.st_mode & 0o7777)
        f.write(new)
    os.replace(tmp, path)
    print(f"container-setup: {path} updated")
EOF

if ! out=$(podman info 2>&1 >/dev/null); then
	echo "container-setup: podman does not work here ($CONF?): $out" >&2
	exit 1
fi
if podman image exists "$BASE"; then
	exit 0
fi

# The mirrors apt uses: deb822 (.sources) stanzas or one-line entries.
mirrors=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
              /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
	function flush() { if (uris != "" && types ~ /(^| )deb( |$)/)
	                       for (i = 1; i <= ns; i++) print s[i], uris; uris = ""; types = ""; ns = 0 }
	/^[ \t]*$/ { flush(); next }
	/^Types:/  { types = $0; sub(/^Types:[ \t]*/, "", types) }
	/^URIs:/   { uris = $2 }
	/^Suites:/ { ns = 0; for (i = 2; i <= NF; i++) s[++ns] = $i }
	/^deb[ \t]/ { n = 2; if ($2 ~ /^\[/) { while ($n !~ /\]$/) n++; n++ } print $(n + 1), $n }
	END { flush() }')
main=$(printf '%s\n' "$mirrors" | awk '$1 == "bookworm" { print $2; exit }')
sec=$(printf '%s\n' "$mirrors" | awk '$1 == "bookworm-security" { print $2; exit }')
if [ -z "$main" ]; then
	echo "container-setup: no bookworm mirror in /etc/apt/sources.list(.d)" >&2
	exit 1
fi
echo "container-setup: building $BASE from $main${sec:+ and $sec}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
set -- "deb $main bookworm main" "deb $main bookworm-updates main"
[ -n "$sec" ] && set -- "$@" "deb $sec bookworm-security main"
mmdebstrap --quiet --variant=minbase --include=iptables,iproute2,libssl3,ca-certificates \
	bookworm "$tmp/debian12.tar" "$@"
podman import --change 'CMD ["/bin/bash"]' "$tmp/debian12.tar" "$BASE" >/dev/null
echo "container-setup: $BASE built"
