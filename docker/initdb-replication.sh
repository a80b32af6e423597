#!/bin/sh
# Run by the postgres image's entrypoint when the volume is first initialised:
# lets the postgres-replica service stream from this server (the effmon role
# the image creates is a superuser, so it may replicate).
echo "host replication effmon all scram-sha-256" >> "$PGDATA/pg_hba.conf"
