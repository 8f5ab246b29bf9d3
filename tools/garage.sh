#!/usr/bin/env bash
# A throwaway Garage (S3-compatible object store) for the cluster tests: one node in
# the folder DIR, on free loopback ports, with one bucket and one key.
#   tools/garage.sh start DIR   prints "ENDPOINT BUCKET REGION ACCESS_KEY SECRET_KEY"
#   tools/garage.sh bucket DIR NAME  adds the bucket NAME for the same key; prints as start
#   tools/garage.sh stop DIR    stops it and throws its data away
# The binary is $PECD_GARAGE, else `garage` on the PATH (.ci/run installs it).
set -euo pipefail
action=${1:?start or stop} dir=${2:?a folder}
garage=${PECD_GARAGE:-garage}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
cli() { "$garage" -c "$dir/garage.toml" "$@"; }
case $action in
start)
  mkdir -p "$dir/meta" "$dir/data"
  rpc=$(free_port) s3=$(free_port)
  # Written durably, as a provider would run it: a PUT answered is a body kept.
  umask 077
  cat > "$dir/garage.toml" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
metadata_fsync = true
data_fsync = true
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$(hex 32)"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"
EOF
  nohup "$garage" -c "$dir/garage.toml" server > "$dir/log" 2>&1 &
  echo $! > "$dir/pid"
  for _ in $(seq 100); do cli status >/dev/null 2>&1 && break; sleep 0.2; done
  node=$(cli node id -q 2>/dev/null | cut -d@ -f1)
  cli layout assign -z dc1 -c 1G "$node" >/dev/null
  cli layout apply --version 1 >/dev/null
  key="GK$(hex 12)" secret=$(hex 32)
  cli key import --yes -n pecd "$key" "$secret" >/dev/null
  echo "http://127.0.0.1:$s3 garage $key $secret" > "$dir/access"
  bash "$0" bucket "$dir" pecd
  ;;
bucket)
  name=${3:?a bucket name}
  cli bucket create "$name" >/dev/null
  cli bucket allow --read --write --owner "$name" --key pecd >/dev/null
  read -r endpoint region key secret < "$dir/access"
  echo "$endpoint $name $region $key $secret"
  ;;
stop)
  if [ -f "$dir/pid" ]; then kill "$(cat "$dir/pid")" 2>/dev/null || true; fi
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start|bucket|stop DIR" >&2; exit 2 ;;
esac
