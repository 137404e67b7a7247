# Shared by scripts/run and scripts/test: make sure what Nocron needs on the machine is there.

# Installs Debian packages, with sudo when not root; `$1` says what they are for.
apt_install() {
  local why=$1 sudo=""
  shift
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  if ! command -v apt-get >/dev/null; then
    echo "apt-get is not available: install $* yourself ($why)" >&2
    exit 1
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Prints the directory with initdb/pg_ctl/postgres, or nothing; always succeeds. (The returns
# name their status: a bare `return` in a trap handler, such as scripts/test's EXIT trap,
# returns the status the trap was entered with, a failed run's.)
pg_bin_dir() {
  if [ -n "${PG_BIN_DIR:-}" ] && [ -x "$PG_BIN_DIR/initdb" ]; then echo "$PG_BIN_DIR"; return 0; fi
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then echo "$dir"; return 0; fi
  done
  dir=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")
  if [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then echo "$dir"; fi
  return 0
}

# Installs the PostgreSQL server package (Debian/Ubuntu) when no binaries are found and no
# DATABASE_URL points elsewhere.
ensure_postgres_binaries() {
  if [ -n "${DATABASE_URL:-}" ] || [ -n "$(pg_bin_dir)" ]; then return; fi
  echo "PostgreSQL server binaries not found: installing the postgresql package" >&2
  apt_install "or set PG_BIN_DIR to their directory, or DATABASE_URL" postgresql
  if [ -z "$(pg_bin_dir)" ]; then
    echo "installing postgresql did not provide initdb/pg_ctl/postgres" >&2
    exit 1
  fi
}

# Makes sure a Redis answers at TEST_REDIS_URL (default redis://127.0.0.1:6379) for the
# realtime tests across instances: installs redis-server (Debian/Ubuntu) and starts it when
# nothing answers.
ensure_redis() {
  local url=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
  local hostport=${url#redis://}
  hostport=${hostport%%/*}
  local host=${hostport%%:*} port=${hostport##*:}
  if redis_answers "$host" "$port"; then return; fi
  if ! command -v redis-server >/dev/null; then
    echo "Redis not reachable at $host:$port and redis-server not found: installing it" >&2
    apt_install "or start a Redis >= 7 and set TEST_REDIS_URL" redis-server
  fi
  redis-server --port "$port" --bind "$host" --save "" --appendonly no --daemonize yes >/dev/null
  for _ in $(seq 50); do
    if redis_answers "$host" "$port"; then return; fi
    sleep 0.1
  done
  echo "redis-server did not start on $host:$port" >&2
  exit 1
}

# Whether a Redis answers PING at host $1, port $2 (bash's /dev/tcp: no client needed). The
# connection lives in a subshell so its redirections never touch this shell's descriptors.
redis_answers() {
  local reply
  reply=$( { exec 9<>"/dev/tcp/$1/$2" && printf 'PING\r\n' >&9 && read -r -t 2 line <&9 \
    && printf '%s' "$line"; } 2>/dev/null ) || return 1
  [ "${reply%$'\r'}" = "+PONG" ]
}

# Installs node and npm (Debian/Ubuntu) when missing: the realtime tests drive the official
# socket.io-client from tests/node-client.
ensure_node() {
  if command -v node >/dev/null && command -v npm >/dev/null; then return; fi
  echo "node/npm not found: installing the nodejs and npm packages" >&2
  apt_install "node >= 18 with npm" nodejs npm
}

# Installs Python's aiosmtpd (the SMTP server the email tests start) when it is missing:
# with pip, or from the Debian package when pip is not allowed to install.
ensure_aiosmtpd() {
  if python3 -c 'import aiosmtpd' >/dev/null 2>&1; then return; fi
  echo "aiosmtpd not found: installing it for the email tests" >&2
  if ! command -v python3 >/dev/null; then
    apt_install "for the email tests" python3
  fi
  if python3 -m pip install --quiet aiosmtpd >/dev/null 2>&1 \
    || python3 -m pip install --quiet --break-system-packages aiosmtpd >/dev/null 2>&1; then
    return
  fi
  apt_install "for the email tests" python3-aiosmtpd
  if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    echo "could not install aiosmtpd (pip install aiosmtpd)" >&2
    exit 1
  fi
}

# The TLS email tests make a private CA and a server certificate with the openssl command,
# and the Rust Socket.IO test client (a dev-dependency) links OpenSSL through pkg-config.
ensure_openssl() {
  if command -v openssl >/dev/null && command -v pkg-config >/dev/null \
    && pkg-config --exists openssl 2>/dev/null; then return; fi
  apt_install "for the TLS email tests and the Socket.IO test client" openssl libssl-dev pkg-config
}

# Installs a headless Chromium when none is found: the browser test opens the example page
# examples/browser/live.html in it.
ensure_chromium() {
  local name
  for name in chromium-headless-shell chromium chromium-browser; do
    if command -v "$name" >/dev/null; then return; fi
  done
  echo "no Chromium found: installing chromium-headless-shell for the browser test" >&2
  apt_install "for the browser test" --no-install-recommends chromium-headless-shell
}
