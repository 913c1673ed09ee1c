#!/usr/bin/env bash
# with_postgres.sh CMD [ARG...]: run CMD beside a PostgreSQL 15 server of
# its own, started here and stopped after: initdb into a temporary folder,
# a unix socket only (no TCP port), as a user that is not root (PostgreSQL
# refuses root; as root, the system user strata-pg is made for it).
# CMD finds the server in STRATA_TEST_PG (a libpq connection string) and
# its data folder in STRATA_TEST_PGDATA; STRATA_TEST_PGCTL restarts it.
set -euo pipefail

# Debian 12's PostgreSQL 15, else the newest installed.
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$PGBIN/initdb" ] || { echo "with_postgres.sh: no $PGBIN/initdb: run 'make deps' (postgresql-15)" >&2; exit 1; }

D=$(mktemp -d /tmp/strata-pg.XXXXXX)
chmod 0755 "$D"
as_pg=()
if [ "$(id -u)" = 0 ]; then
	# Two runs at once may both try to make the user: one wins, both go on.
	id strata-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin strata-pg ||
		id strata-pg >/dev/null
	chown strata-pg "$D"
	# From /: PostgreSQL's programs go back to the working folder, which
	# strata-pg may not enter (a checkout under /root).
	as_pg=(env -C / runuser -u strata-pg --)
fi
stop() {
	"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$D/data" -m immediate stop >/dev/null 2>&1 || true
	[ -n "${PG_KEEP:-}" ] && echo "kept $D" >&2 || rm -rf "$D"
}
trap stop EXIT

"${as_pg[@]}" "$PGBIN/initdb" -D "$D/data" -A trust -U strata --no-sync -E UTF8 >"$D/initdb.log" 2>&1 ||
	{ cat "$D/initdb.log" >&2; exit 1; }
pg_opts="-k $D -c listen_addresses= -c fsync=off -c synchronous_commit=off"
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$D/data" -o "$pg_opts" -l "$D/server.log" -w -t 30 start >/dev/null ||
	{ cat "$D/server.log" >&2; exit 1; }

export STRATA_TEST_PG="host=$D user=strata dbname=postgres connect_timeout=5"
export STRATA_TEST_PGDATA="$D/data"
# A restart, for tests of a server going away under the daemons.
export STRATA_TEST_PGCTL="${as_pg[*]} $PGBIN/pg_ctl -D $D/data -o '$pg_opts' -l $D/server.log -w -t 30"
"$@"
