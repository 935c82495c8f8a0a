# syntax=docker/dockerfile:1
# apache/hive:4.0.0 as a standalone metastore on PostgreSQL: the image lacks the PostgreSQL JDBC
# driver, and its entrypoint initializes the schema on every start (failing once it exists).
FROM apache/hive:4.0.0
ADD --chmod=644 https://repo1.maven.org/maven2/org/postgresql/postgresql/42.7.4/postgresql-42.7.4.jar /opt/hive/lib/postgres.jar
COPY --chmod=755 metastore-entrypoint.sh /metastore-entrypoint.sh
ENTRYPOINT ["/metastore-entrypoint.sh"]
