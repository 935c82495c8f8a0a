#!/bin/bash
# Start the apache/hive metastore, initializing its schema only when the database has none yet
# (the image's /entrypoint.sh runs `schematool -initSchema` unless IS_RESUME=true).
export HADOOP_CLIENT_OPTS="${HADOOP_CLIENT_OPTS:-} -Xmx512m ${SERVICE_OPTS:-}"
if /opt/hive/bin/schematool -dbType "${DB_DRIVER:-postgres}" -info >/dev/null 2>&1; then
  export IS_RESUME=true
fi
exec /entrypoint.sh "$@"
