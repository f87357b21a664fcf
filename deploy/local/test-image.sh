#!/usr/bin/env bash
# Builds fila's image from deploy/Dockerfile, unchanged, with podman, and
# runs it the way a user deploys it:
#
# 1. The image alone, against this machine's PostgreSQL and RabbitMQ (a
#    database and a virtual host of its own, removed at the end): `fila-api
#    migrate`, then `fila-api` and two `fila-worker` containers as the
#    image's user, read-only, without capabilities, each becoming healthy by
#    the image's health check. Through them: the TAF seed lot sent and
#    followed to the end with the `fila` tool of the image, a wsProcess
#    call, and a worker stopped with SIGTERM while it runs processes, which
#    it finishes before it exits, within the grace period. The image's size
#    is printed, and it must hold no build tools.
# 2. deploy/docker-compose.yml brought up with `docker compose` against
#    podman's Docker API, with deploy/local/images/compose.local.yml, which
#    swaps the PostgreSQL and RabbitMQ images for local ones and moves the
#    published ports off this machine's own services. The start order
#    (health-gated, after the one-shot migration), the seed lot, and `down`
#    then `up` keeping the data of the named volumes; `down -v` at the end.
#
# No image is pulled. The images the Dockerfile and the compose file name
# are made here once and kept in podman's storage: `debian:bookworm-slim`
# by debootstrap from Debian's packages, `rust:<version>-bookworm` from the
# same plus this machine's Rust toolchain, and the PostgreSQL and RabbitMQ
# stand-ins (deploy/local/images/*/Containerfile) from Debian's packages.
# The image's build caches its layers: the first build compiles every
# dependency (10 to 20 minutes on 2 cores), later ones only fila's own
# crates (5 to 10 minutes), until a Cargo.toml or Cargo.lock changes; an
# unchanged tree builds in seconds.
#
# Installs podman, runc, slirp4netns and debootstrap with apt-get when
# missing, and Docker Compose v2 from Debian's package (trixie's, a single
# binary installed as a Docker CLI plugin).
#
# podman runs health checks from systemd timers; without systemd, this
# script runs them itself every few seconds (`podman healthcheck run`, which
# applies the check's retries and start period), as Docker's daemon would.
set -euo pipefail
cd "$(dirname "$0")/../.."

here=deploy/local/images
export CONTAINERS_CONF="$PWD/$here/containers.conf"
# Docker's image format, which keeps the Dockerfile's HEALTHCHECK (podman's
# default, OCI's, has no place for it), for `podman build` and for the
# builds compose asks of podman's API.
export BUILDAH_FORMAT=docker
image=localhost/fila:local
run_id=$$
say() { echo "test-image: $*" >&2; }
# podman, without its complaint, on every container with a health check,
# that systemd is not there to schedule the checks (see above).
podman() {
  command podman "$@" 2> >(grep -v 'unable to get systemd connection' >&2)
}
fail() {
  say "FAILED: $*"
  exit 1
}
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
seconds() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.1f", b - a }'; }

# --- tools -----------------------------------------------------------------

compose_plugin=/usr/local/lib/docker/cli-plugins/docker-compose
install_tools() {
  local missing=()
  for tool in podman runc slirp4netns debootstrap; do
    type -P "$tool" >/dev/null || missing+=("$tool")  # the executable, not the wrapper function above
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
  if [ ! -x "$compose_plugin" ]; then
    say "installing Docker Compose v2 (Debian trixie's docker-compose package)"
    local mirror=http://deb.debian.org/debian work filename
    work=$(mktemp -d)
    curl -fsS -o "$work/Packages.xz" "$mirror/dists/trixie/main/binary-amd64/Packages.xz"
    filename=$(xz -dc "$work/Packages.xz" \
      | awk '/^Package: docker-compose$/ { found = 1 } found && !name && /^Filename:/ { name = $2 } END { print name }')
    [ -n "$filename" ] || fail "no docker-compose package in Debian trixie"
    curl -fsS -o "$work/compose.deb" "$mirror/$filename"
    dpkg-deb -x "$work/compose.deb" "$work/root"
    as_root install -D -m 0755 "$work/root/usr/libexec/docker/cli-plugins/docker-compose" \
      "$compose_plugin"
    rm -rf "$work"
  fi
}

# --- base images -----------------------------------------------------------

# A Debian root file system: the packages given, trimmed like Debian's
# official slim image (no documentation, manual pages or translations).
bootstrap() {
  local dir=$1 include=$2
  as_root debootstrap --variant=minbase ${include:+--include="$include"} bookworm "$dir" \
    http://deb.debian.org/debian >/dev/null
  as_root tee "$dir/etc/dpkg/dpkg.cfg.d/excludes" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
  as_root find "$dir/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  as_root rm -rf "$dir"/usr/share/{man,info,lintian}/* "$dir"/var/lib/apt/lists/* \
    "$dir"/var/cache/apt/*.bin
  as_root find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias \
    -exec rm -rf {} +
}

# Imports the root file system made in `work`/root as the image `name`
# (more arguments: `podman import`'s options), and removes `work`.
import_root() {
  local work=$1 name=$2
  shift 2
  as_root tar -C "$work/root" -c . | podman import -q "$@" - "$name" >/dev/null
  as_root rm -rf "$work"
}

rust_version=$(rustc --version | awk '{ split($2, v, "."); print v[1] "." v[2] }')
prepare_base_images() {
  local work
  if ! podman image exists docker.io/library/debian:bookworm-slim; then
    say "making debian:bookworm-slim with debootstrap"
    work=$(mktemp -d)
    bootstrap "$work/root" ""
    import_root "$work" docker.io/library/debian:bookworm-slim
  fi
  if ! podman image exists "docker.io/library/rust:$rust_version-bookworm"; then
    say "making rust:$rust_version-bookworm from debootstrap and this machine's toolchain"
    work=$(mktemp -d)
    bootstrap "$work/root" gcc,libc6-dev,ca-certificates,pkg-config,make,binutils
    as_root mkdir -p "$work/root/usr/local/rust" "$work/root/usr/local/cargo"
    tar -C "$(rustc --print sysroot)" --exclude=./share/doc -c . \
      | as_root tar -C "$work/root/usr/local/rust" -x
    # The machine's own certificate authorities (those of a TLS-inspecting
    # proxy, say), so that cargo reaches crates.io from the build as it does
    # from the machine. Only the builder has them: fila's image installs
    # Debian's ca-certificates itself.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
      as_root cp /usr/local/share/ca-certificates/*.crt "$work/root/usr/local/share/ca-certificates/"
      as_root chroot "$work/root" update-ca-certificates >/dev/null 2>&1
    fi
    import_root "$work" "docker.io/library/rust:$rust_version-bookworm" \
      --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV CARGO_HOME=/usr/local/cargo'
  fi
  local service
  for service in postgres:15 rabbitmq:3.10; do
    if ! podman image exists "localhost/fila-local/$service"; then
      say "making the ${service%%:*} image from Debian's packages"
      podman build -q --pull=never --network host -t "localhost/fila-local/$service" \
        "$here/${service%%:*}" >/dev/null
    fi
  done
}

build_image() {
  say "building $image from deploy/Dockerfile (on 2 cores: 10 to 20 minutes the first time, which compiles every dependency; 5 to 10 minutes after a change of fila's sources; seconds when nothing changed)"
  local start
  start=$(seconds)
  podman build --pull=never --network host --build-arg RUST_VERSION="$rust_version" \
    -f deploy/Dockerfile -t "$image" . >target/image/build.log 2>&1 \
    || { tail -40 target/image/build.log >&2; fail "the image does not build (target/image/build.log)"; }
  say "built in $(elapsed "$start") s"
}

check_contents() {
  local size base tools
  size=$(podman image inspect "$image" --format '{{.Size}}')
  base=$(podman image inspect docker.io/library/debian:bookworm-slim --format '{{.Size}}')
  say "image $((size / 1000000)) MB, of which the Debian base $((base / 1000000)) MB"
  [ "$((size - base))" -lt 200000000 ] || fail "fila adds more than 200 MB to its base"
  tools=$(podman run --rm --entrypoint sh "$image" -c \
    'for t in cc gcc ld as make cargo rustc rustup cargo-chef; do command -v "$t" || true; done')
  [ -z "$tools" ] || fail "build tools in the image: $tools"
  for binary in fila-api fila-worker fila; do
    podman run --rm "$image" "$binary" --version >/dev/null || fail "$binary --version"
  done
}

# --- health checks, run as systemd would for podman ------------------------

health_ticker=
start_health_ticker() {
  (
    while sleep 3; do
      for container in $(podman ps -q --filter "label=fila-image-test=$run_id" 2>/dev/null) \
        $(podman ps -q --filter "label=com.docker.compose.project=fila-image-$run_id" 2>/dev/null); do
        podman healthcheck run "$container" >/dev/null 2>&1 || true
      done
    done
  ) &
  health_ticker=$!
}

# Waits until every container named is healthy.
wait_healthy() {
  local deadline=$((SECONDS + 120)) container status
  for container in "$@"; do
    while :; do
      status=$(podman inspect "$container" --format '{{.State.Health.Status}}')
      [ "$status" = healthy ] && break
      if [ "$SECONDS" -ge "$deadline" ]; then
        podman logs --tail 30 "$container" >&2 || true
        fail "$container is $status, not healthy"
      fi
      sleep 1
    done
  done
}

# --- 1. the image alone ----------------------------------------------------

database=fila_image_$run_id
vhost=fila-image-$run_id
management=http://127.0.0.1:15672/api
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
psql_fila() { psql -h 127.0.0.1 -U postgres -d "$database" -tAq -c "SET search_path = fila; $1"; }

# What every container of part 1 shares: its own network namespace that
# reaches this machine's loopback as 10.0.2.2, the compose file's
# configuration with the database and virtual host of this run, read-only,
# without capabilities.
containers=(--network slirp4netns:allow_host_loopback=true
  --label "fila-image-test=$run_id" --read-only --cap-drop ALL
  --security-opt no-new-privileges
  -e FILA_CONFIG=/etc/fila/fila.toml
  -e "FILA_DATABASE_URL=postgres://postgres@10.0.2.2:5432/$database"
  -e "FILA_AMQP_URL=amqp://guest:guest@10.0.2.2:5672/$vhost"
  -e FILA_AMQP_MANAGEMENT_URL=http://10.0.2.2:15672
  -v "$PWD/deploy/compose/fila.toml:/etc/fila/fila.toml:ro"
  -v "$PWD/deploy/local/processes.toml:/etc/fila/processes.toml:ro")

remove_alone() {
  podman rm -f -t 0 $(podman ps -aq --filter "label=fila-image-test=$run_id") >/dev/null 2>&1 || true
  psql -h 127.0.0.1 -U postgres -d postgres -q -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" \
    >/dev/null 2>&1 || true
  curl -fsS -u guest:guest -X DELETE "$management/vhosts/$vhost" >/dev/null 2>&1 || true
}

# The `fila` tool of the image, as user fila, against the API of part 1.
cli() {
  podman run --rm --network slirp4netns:allow_host_loopback=true --read-only \
    -v "$PWD/tests/fixtures:/fixtures:ro" \
    -e "FILACLI_URL=http://10.0.2.2:$api_port" -e FILACLI_USER=fila -e FILACLI_PASSWORD=fila \
    "$image" fila "$@"
}

alone() {
  say "part 1: the image against this machine's PostgreSQL and RabbitMQ"
  psql -h 127.0.0.1 -U postgres -d postgres -q -c "CREATE DATABASE $database"
  curl -fsS -u guest:guest -X PUT "$management/vhosts/$vhost" >/dev/null
  curl -fsS -u guest:guest -X PUT -H 'Content-Type: application/json' \
    -d '{"configure":".*","write":".*","read":".*"}' "$management/permissions/$vhost/guest" >/dev/null

  podman run --rm "${containers[@]}" "$image" fila-api migrate >/dev/null \
    || fail "fila-api migrate"
  api_port=$(free_port)
  podman run -d -q --name "fila-image-$run_id-api" "${containers[@]}" \
    -p "127.0.0.1:$api_port:8080" "$image" >/dev/null
  for n in 1 2; do
    podman run -d -q --name "fila-image-$run_id-worker$n" --hostname "worker$n" \
      --stop-timeout 40 "${containers[@]}" "$image" fila-worker >/dev/null
  done
  wait_healthy "fila-image-$run_id-api" "fila-image-$run_id-worker1" "fila-image-$run_id-worker2"
  local container user
  for container in api worker1 worker2; do
    user=$(podman top "fila-image-$run_id-$container" huser | awk 'NR > 1' | sort -u | paste -sd,)
    [ "$user" = 10001 ] || fail "$container runs as '$user', not 10001"
  done
  say "api and two workers healthy, running as user 10001"

  cli taf send /fixtures/taf_seed_lot.json --wait --timeout 120 --progress plain >/dev/null \
    || fail "the seed lot did not finish without errors"
  local processed
  processed=$(psql_fila "SELECT count(*) FROM taf_record WHERE ticket_code = 'WIO9753123654789789363655241452363' AND status = 'processed'")
  [ "$processed" = 2 ] || fail "$processed of the seed lot's 2 records processed"
  say "TAF seed lot: 2 records processed (fila taf send --wait, in the image)"

  local answer
  answer=$(curl -fsS -u fila:fila -H 'Content-Type: text/xml; charset=utf-8' \
    -H 'SOAPAction: "http://www.totvs.com/IwsProcess/ExecuteWithXmlParams"' \
    --data-binary @tests/fixtures/wsprocess_execute.xml \
    "http://127.0.0.1:$api_port/wsProcess/IwsProcess")
  grep -q '<ExecuteWithXmlParamsResult>1</ExecuteWithXmlParamsResult>' <<<"$answer" \
    || fail "wsProcess answered: $answer"
  say "wsProcess ExecuteWithXmlParams answered 1"

  drain
}

# Starts processes that sleep 8 s, stops (SIGTERM) the worker running one,
# and checks that it finished its runs before it exited, within the grace
# period, and that no run was taken twice.
drain() {
  local n host deadline start exit_code
  for n in 1 2 3 4; do
    cli process run Sleep seconds:=8 >/dev/null || fail "fila process run Sleep"
  done
  deadline=$((SECONDS + 60))
  until host=$(psql_fila "SELECT split_part(worker, '-', 1) FROM process_execution WHERE status = 'running' LIMIT 1") \
    && [ -n "$host" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "no Sleep run started"
    sleep 0.2
  done
  local running
  running=$(psql_fila "SELECT count(*) FROM process_execution WHERE status = 'running' AND worker LIKE '$host-%'")
  start=$(seconds)
  podman stop -t 40 "fila-image-$run_id-$host" >/dev/null
  local took
  took=$(elapsed "$start")
  exit_code=$(podman inspect "fila-image-$run_id-$host" --format '{{.State.ExitCode}}')
  [ "$exit_code" = 0 ] || fail "$host exited with $exit_code after SIGTERM"
  local unfinished
  unfinished=$(psql_fila "SELECT count(*) FROM process_execution WHERE worker LIKE '$host-%' AND status <> 'succeeded'")
  [ "$unfinished" = 0 ] || fail "$host left $unfinished runs unfinished"
  deadline=$((SECONDS + 60))
  until [ "$(psql_fila "SELECT count(*) FROM process_execution e JOIN process_job j ON j.id = e.job_id WHERE j.process = 'Sleep' AND e.status = 'succeeded'")" = 4 ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the Sleep runs did not all succeed"
    sleep 0.5
  done
  local retaken
  retaken=$(psql_fila "SELECT count(*) FROM process_execution e JOIN process_job j ON j.id = e.job_id WHERE j.process = 'Sleep' AND (e.claims <> 1 OR e.exec_id <> 1)")
  [ "$retaken" = 0 ] || fail "$retaken Sleep runs were taken more than once"
  say "SIGTERM to $host with $running runs in hand: it finished them and exited 0 after $took s (grace 40 s); 4 of 4 runs succeeded once"
}

# --- 2. docker compose -----------------------------------------------------

socket=
podman_service=
compose() {
  DOCKER_HOST="unix://$socket" "$compose_plugin" -p "fila-image-$run_id" \
    -f deploy/docker-compose.yml -f "$here/compose.local.yml" "$@"
}

started_at() { podman inspect "$1" --format '{{.State.StartedAt.Format "2006-01-02T15:04:05.000000000Z07:00"}}'; }

with_compose() {
  say "part 2: deploy/docker-compose.yml with docker compose against podman"
  socket=$PWD/target/image/podman-$run_id.sock
  # The service itself, not the wrapper function: $! must be its pid.
  command podman system service --time=0 "unix://$socket" >target/image/podman-service.log 2>&1 &
  podman_service=$!
  local deadline=$((SECONDS + 30))
  until [ -S "$socket" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "podman's API socket did not appear"
    sleep 0.2
  done
  FILA_COMPOSE_API_PORT=$(free_port)
  FILA_COMPOSE_RABBITMQ_PORT=$(free_port)
  export FILA_COMPOSE_API_PORT FILA_COMPOSE_RABBITMQ_PORT

  local start
  start=$(seconds)
  compose up -d --wait --wait-timeout 300 >target/image/compose-up.log 2>&1 \
    || { cat target/image/compose-up.log >&2; compose logs --tail 30 >&2 || true; fail "compose up"; }
  say "compose up: every service healthy after $(elapsed "$start") s"
  check_compose_order

  local api=http://127.0.0.1:$FILA_COMPOSE_API_PORT
  curl -fsS -u fila:fila -H 'Content-Type: application/json;charset=UTF-8' \
    --data-binary @tests/fixtures/taf_seed_lot.json "$api/rest/wstafst2" >/dev/null
  compose exec -T -e FILACLI_USER=fila -e FILACLI_PASSWORD=fila api \
    fila taf status --ticket WIO9753123654789789363655241452363 --json >/dev/null
  wait_seed_processed "$api"
  compose exec -T rabbitmq rabbitmqctl -q add_vhost kept-across-down >/dev/null
  say "compose: the seed lot processed; down and up again"

  compose down >/dev/null 2>&1
  compose up -d --wait --wait-timeout 300 >target/image/compose-up.log 2>&1 \
    || { cat target/image/compose-up.log >&2; fail "compose up after down"; }
  wait_seed_processed "$api"
  compose exec -T rabbitmq rabbitmqctl -q list_vhosts | grep -qx kept-across-down \
    || fail "RabbitMQ's data did not survive down and up"
  say "compose: after down and up, the seed lot's records and RabbitMQ's definitions are there"
  compose down -v >/dev/null 2>&1
  [ -z "$(podman volume ls -q --filter "label=com.docker.compose.project=fila-image-$run_id")" ] \
    || fail "down -v left volumes"
}

# The one-shot migration ran after PostgreSQL started and ended before the
# API and the workers started; two workers run.
check_compose_order() {
  local project=fila-image-$run_id
  local postgres migrate migrated api workers
  postgres=$(started_at "$project-postgres-1")
  migrate=$(started_at "$project-migrate-1")
  migrated=$(podman inspect "$project-migrate-1" \
    --format '{{.State.ExitCode}} {{.State.FinishedAt.Format "2006-01-02T15:04:05.000000000Z07:00"}}')
  [ "${migrated%% *}" = 0 ] || fail "the migration exited with ${migrated%% *}"
  api=$(started_at "$project-api-1")
  workers=$(podman ps -q --filter "label=com.docker.compose.project=$project" \
    --filter label=com.docker.compose.service=worker | wc -l)
  [ "$workers" = 2 ] || fail "$workers workers running, not 2"
  [[ "$postgres" < "$migrate" && "${migrated#* }" < "$api" ]] \
    || fail "start order: postgres $postgres, migrate $migrate, migrated ${migrated#* }, api $api"
  for worker in $(podman ps --format '{{.Names}}' --filter "label=com.docker.compose.project=$project" \
    --filter label=com.docker.compose.service=worker); do
    [[ "${migrated#* }" < "$(started_at "$worker")" ]] || fail "$worker started before the migration ended"
  done
}

wait_seed_processed() {
  local deadline=$((SECONDS + 120)) page
  while :; do
    page=$(curl -fsS -u fila:fila "$1/rest/wstafst2?ticketCode=WIO9753123654789789363655241452363&startRecNo=0" || true)
    [ "$(jq '[.items[]? | select(.proccessed == true)] | length' <<<"${page:-{\}}")" = 2 ] && return
    [ "$SECONDS" -lt "$deadline" ] || fail "the seed lot was not processed: $page"
    sleep 1
  done
}

cleanup() {
  local status=$?
  [ -n "$health_ticker" ] && kill "$health_ticker" 2>/dev/null
  remove_alone
  if [ -n "$podman_service" ]; then
    compose down -v >/dev/null 2>&1 || true
    kill "$podman_service" 2>/dev/null || true
    rm -f "$socket"
  fi
  exit "$status"
}

mkdir -p target/image
install_tools
trap cleanup EXIT
prepare_base_images
build_image
check_contents
start_health_ticker
alone
remove_alone
with_compose
say "passed"
