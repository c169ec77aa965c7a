#!/usr/bin/env bash
# Installs the real servers the integration tests and `npm run stack` use, when missing:
#   nats-server, ferretdb and toxiproxy-server (built with Go from the module proxy) into $BLOCKVAULT_TOOLS,
#   helm (built with Go from the module proxy, for the chart's lint and template tests),
#   Ceph (mon, osd, mgr, radosgw, rbd) from Debian's packages; qemu-img, qemu-io and nbdinfo
#   (Debian's qemu-utils and libnbd-bin), the NBD clients the export is tested with; bash-completion
#   and zsh, the shells `blockvault completion` is tested in; Debian's chromium, the headless browser the
#   dashboard is tested in (browser downloads are not possible here).
# Idempotent and quick when everything is there. Prints the tools directory on stdout.
#   infra/local/install.sh [nats] [ferretdb] [toxiproxy] [helm] [ceph] [protoc] [qemu] [shells] [chromium]     (default: all)
set -euo pipefail

TOOLS="${BLOCKVAULT_TOOLS:-$HOME/.cache/blockvault/bin}"
NATS_VERSION="${BLOCKVAULT_NATS_VERSION:-v2.12.1}"
FERRETDB_VERSION="${BLOCKVAULT_FERRETDB_VERSION:-v1.24.2}"
TOXIPROXY_VERSION="${BLOCKVAULT_TOXIPROXY_VERSION:-v2.5.0}"
HELM_VERSION="${BLOCKVAULT_HELM_VERSION:-v3.22.0}"
mkdir -p "$TOOLS"
log() { echo "install: $*" >&2; }

want() { [ $# -eq 0 ] && return 0; for w in "${WANTED[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1; }
WANTED=("$@")
[ ${#WANTED[@]} -eq 0 ] && WANTED=(nats ferretdb toxiproxy helm ceph protoc qemu shells chromium)

if want nats && ! "$TOOLS/nats-server" --version 2>/dev/null | grep -q "${NATS_VERSION#v}"; then
  log "nats-server $NATS_VERSION (go install)"
  GOBIN="$TOOLS" GOFLAGS=-buildvcs=false go install "github.com/nats-io/nats-server/v2@$NATS_VERSION"
fi

if want ferretdb && ! "$TOOLS/ferretdb" --version 2>/dev/null | grep -q "$FERRETDB_VERSION"; then
  # `go install` builds a binary that panics: FerretDB embeds build/version/version.txt, which
  # its release process generates and the module zip lacks. Build a copy with the file written.
  log "ferretdb $FERRETDB_VERSION (go build)"
  src=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp -r "$src"/. "$work"
  chmod -R u+w "$work"
  echo "$FERRETDB_VERSION" > "$work/build/version/version.txt"
  (cd "$work" && GOFLAGS=-buildvcs=false go build -o "$TOOLS/ferretdb" ./cmd/ferretdb)
fi

# Toxiproxy (Shopify) injects latency and hangs between the fault suite's services and their stores.
if want toxiproxy && ! go version -m "$TOOLS/toxiproxy-server" 2>/dev/null | grep -q "toxiproxy/v2[[:space:]]*$TOXIPROXY_VERSION"; then
  log "toxiproxy-server $TOXIPROXY_VERSION (go build)"
  work=$(mktemp -d)
  GOBIN="$work" GOFLAGS=-buildvcs=false go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  mv "$work/server" "$TOOLS/toxiproxy-server"
  rmdir "$work"
fi

# Helm renders and lints infra/helm/blockvault in the test command (no cluster needed).
# (`go install` leaves `helm version` at the minor release; the module version says which patch.)
if want helm && ! go version -m "$TOOLS/helm" 2>/dev/null | grep -q "helm.sh/helm/v3[[:space:]]*$HELM_VERSION"; then
  log "helm $HELM_VERSION (go install)"
  GOBIN="$TOOLS" GOFLAGS=-buildvcs=false go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

if want ceph && ! { command -v ceph-mon && command -v ceph-osd && command -v radosgw && command -v rbd; } >/dev/null 2>&1; then
  log "ceph (Debian packages)"
  [ "$(id -u)" = 0 ] || { log "installing Ceph needs root (apt-get)"; exit 1; }
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    ceph-mon ceph-osd ceph-mgr ceph-common radosgw uuid-runtime >/dev/null
fi

if want protoc && ! command -v protoc >/dev/null 2>&1; then
  log "protoc (Debian protobuf-compiler, for regenerating libs/proto)"
  [ "$(id -u)" = 0 ] || { log "installing protoc needs root (apt-get)"; exit 1; }
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends protobuf-compiler >/dev/null
fi

if want qemu && ! { command -v qemu-img && command -v qemu-io && command -v nbdinfo; } >/dev/null 2>&1; then
  log "qemu-utils and libnbd-bin (Debian packages: NBD clients for the export's tests)"
  [ "$(id -u)" = 0 ] || { log "installing qemu-utils needs root (apt-get)"; exit 1; }
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends qemu-utils libnbd-bin >/dev/null
fi

if want shells && ! { command -v zsh && [ -f /usr/share/bash-completion/bash_completion ]; } >/dev/null 2>&1; then
  log "bash-completion and zsh (Debian packages: the shells blockvault's completion scripts are tested in)"
  [ "$(id -u)" = 0 ] || { log "installing zsh needs root (apt-get)"; exit 1; }
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends bash-completion zsh >/dev/null
fi

if want chromium && ! command -v chromium >/dev/null 2>&1; then
  log "chromium (Debian package: the headless browser the dashboard is tested in)"
  [ "$(id -u)" = 0 ] || { log "installing chromium needs root (apt-get)"; exit 1; }
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

echo "$TOOLS"
