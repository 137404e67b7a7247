# Shared by scripts/run and scripts/test: make sure what Nocron needs on the machine is there.

# Prints the directory with initdb/pg_ctl/postgres, or nothing.
pg_bin_dir() {
  if [ -n "${PG_BIN_DIR:-}" ] && [ -x "$PG_BIN_DIR/initdb" ]; then echo "$PG_BIN_DIR"; return; fi
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then echo "$dir"; return; fi
  done
  dir=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")
  if [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then echo "$dir"; fi
}

# Installs the PostgreSQL server package (Debian/Ubuntu) when no binaries are found and no
# DATABASE_URL points elsewhere.
ensure_postgres_binaries() {
  if [ -n "${DATABASE_URL:-}" ] || [ -n "$(pg_bin_dir)" ]; then return; fi
  echo "PostgreSQL server binaries not found: installing the postgresql package" >&2
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  if ! command -v apt-get >/dev/null; then
    echo "apt-get is not available: install PostgreSQL (initdb, pg_ctl, postgres) and set PG_BIN_DIR, or set DATABASE_URL" >&2
    exit 1
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  if [ -z "$(pg_bin_dir)" ]; then
    echo "installing postgresql did not provide initdb/pg_ctl/postgres" >&2
    exit 1
  fi
}
