#!/bin/bash
# Stand-in for the official mysql image's entrypoint (test tier only), on Debian's MariaDB: on an
# empty /var/lib/mysql it creates the system tables, sets the root password from
# MYSQL_ROOT_PASSWORD (root@localhost and root@'%', as the official image does), then sources
# /docker-entrypoint-initdb.d/*.sh with the official image's `docker_process_sql` helper, the
# server listening on its socket only meanwhile. Then it runs the server on port 3306.
set -euo pipefail
: "${MYSQL_ROOT_PASSWORD:?}"
datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld "$datadir"

docker_process_sql() {
  mariadb --protocol=socket --socket="$socket" -uroot -p"$MYSQL_ROOT_PASSWORD" --comments "$@"
}

if [ ! -d "$datadir/mysql" ]; then
  echo "stand-in: initialising $datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
    --auth-root-authentication-method=normal >/dev/null
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket="$socket" &
  pid=$!
  for _ in $(seq 60); do mariadb-admin --socket="$socket" -uroot ping --silent 2>/dev/null && break; sleep 1; done
  mariadb --protocol=socket --socket="$socket" -uroot <<-EOSQL
	ALTER USER 'root'@'localhost' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
	CREATE USER 'root'@'%' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
	GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
	FLUSH PRIVILEGES;
EOSQL
  for script in /docker-entrypoint-initdb.d/*.sh; do
    [ -e "$script" ] || continue
    echo "stand-in: sourcing $script"
    # shellcheck disable=SC1090
    . "$script"
  done
  kill "$pid" && wait "$pid" || true
fi
exec mariadbd --user=mysql --datadir="$datadir" --socket="$socket" --bind-address=0.0.0.0 --port=3306
