#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL server (Debian's postgresql, never a mock): initdb in
# a temporary folder — as the postgres user when run as root, since the server refuses root —
# trust authentication, a Unix socket in that folder and no TCP port. MESHEXPORT_TEST_POSTGRES
# holds its libpq connection string; MESHEXPORT_TEST_POSTGRES_CTL a script that stops, starts or
# restarts it (`$MESHEXPORT_TEST_POSTGRES_CTL restart`: the fleet tests restart it mid-run). The
# server is stopped and its folder removed afterwards.
# usage: with-postgres.sh COMMAND [ARGS...]
set -euo pipefail
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then echo "postgresql missing: run scripts/install-deps.sh"; exit 1; fi
dir="$(mktemp -d /tmp/mx-pg.XXXXXX)"
as=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$dir"
  as=(runuser -u postgres --)
fi
stop() {
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
"${as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-c listen_addresses='' -k $dir -c fsync=off" start >/dev/null
cat > "$dir/ctl" <<CTL
#!/usr/bin/env bash
# stop | start | restart the throwaway server
set -e
case "\$1" in
  stop) ${as[*]} "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null ;;
  start) ${as[*]} "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "-c listen_addresses='' -k $dir -c fsync=off" start >/dev/null ;;
  restart) "\$0" stop; "\$0" start ;;
esac
CTL
chmod 755 "$dir/ctl"
export MESHEXPORT_TEST_POSTGRES="host=$dir user=postgres dbname=postgres"
export MESHEXPORT_TEST_POSTGRES_CTL="$dir/ctl"
"$@"
