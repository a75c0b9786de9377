# Sourced by scripts/drill and scripts/test: installs Debian packages that are missing.
# `need PACKAGE... -- TEST...`: when any TEST command fails, apt-get installs the packages
# (as root), or the script stops and says what to install.

apt_updated=0

need() {
  local packages=() checks=()
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do packages+=("$1"); shift; done
  shift
  checks=("$@")
  local missing=0
  for check in "${checks[@]}"; do
    if ! eval "$check" >/dev/null 2>&1; then missing=1; fi
  done
  [ "$missing" = 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "$(basename "$0"): missing Debian packages. Install them: sudo apt-get install -y ${packages[*]}" >&2
    exit 1
  fi
  echo "$(basename "$0"): installing ${packages[*]} from Debian's packages (apt-get)…" >&2
  if [ "$apt_updated" = 0 ]; then apt-get update -q; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
}

# What building Lifeboat and running a sandbox drill need.
need_build_and_drill() {
  # The agent's mysql check links Debian's MariaDB Connector/C.
  need libmariadb-dev pkg-config -- "pkg-config --exists libmariadb"
  # Foundation's XML parser (Route 53's answers) links libxml2.
  need libxml2-dev -- "pkg-config --exists libxml-2.0"
  # PostgreSQL server binaries (the sandbox runs them as the postgres user when root).
  need postgresql -- "ls /usr/lib/postgresql/*/bin/initdb" "id postgres"
  # File replication between the sandbox regions.
  need rsync -- "command -v rsync"
}
