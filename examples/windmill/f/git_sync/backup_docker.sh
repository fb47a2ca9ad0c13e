# shellcheck shell=bash
# docker
# The "docker" annotation above makes Windmill take over the container named
# $WM_JOB_ID once this script ends: it streams the container's log into the
# job, tracks its memory, stops it when the job is cancelled and fails the
# job when it exits non-zero. The worker needs the Docker socket mounted,
# curl, and the image (`docker build -t windmill-git-sync .` on that host).
git_remote_url="$1"
git_branch="${2:-main}"
git_token_variable="${3:-f/git_sync/git_token}"
image="${4:-windmill-git-sync:latest}"
docker_network="${5:-}"

set -euo pipefail

fail() {
  printf 'backup: %s\n' "$*" >&2
  exit 2
}

json_string() {
  local s="$1"
  if [[ "$s" == *[[:cntrl:]]* ]]; then
    fail "a value holds a control character: $s"
  fi
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  printf '"%s"' "$s"
}

for program in docker curl; do
  command -v "$program" >/dev/null || fail "$program is not on the worker's PATH"
done
[[ -n "$git_remote_url" ]] || fail "git_remote_url is required"
[[ -n "${WM_TOKEN:-}" && -n "${WM_WORKSPACE:-}" && -n "${BASE_INTERNAL_URL:-}" && -n "${WM_JOB_ID:-}" ]] ||
  fail "WM_TOKEN, WM_WORKSPACE, BASE_INTERNAL_URL and WM_JOB_ID are missing: run this as a Windmill job"
[[ "$git_token_variable" =~ ^[ugf](/[A-Za-z0-9_-]+){2,}$ ]] ||
  fail "git_token_variable is not a Windmill path: $git_token_variable"

# As in f/git_sync/backup: the job token reaches curl on stdin.
url="${BASE_INTERNAL_URL%/}/api/w/${WM_WORKSPACE}/variables/get_value/${git_token_variable}"
if ! git_token_json="$(printf 'header = "Authorization: Bearer %s"\n' "$WM_TOKEN" |
  curl --silent --show-error --fail --max-time 30 --config - -- "$url")"; then
  fail "could not read the variable $git_token_variable (does it exist, and may this job's user read it?)"
fi
json_string_re='^"([^"\[:cntrl:]]|\\.)+"$'
[[ "$git_token_json" =~ $json_string_re ]] ||
  fail "the variable $git_token_variable does not hold a single-line token"

config="{\"git_remote_url\": $(json_string "$git_remote_url")"
config+=", \"git_branch\": $(json_string "$git_branch")"
config+=", \"git_token\": ${git_token_json}}"
unset git_token_json

# A local image (built on this host) is used as it is; others are pulled.
docker image inspect "$image" >/dev/null 2>&1 || docker pull --quiet "$image"

# `-e NAME` without a value copies NAME from this script's environment, so no
# secret is on docker's command line. The container reads the config from
# its own environment into the tool's stdin. `docker inspect` shows a
# container's environment, but whoever can reach the Docker socket is root on
# the host anyway.
network=()
if [[ -n "$docker_network" ]]; then
  network=(--network "$docker_network")
fi
export WINDMILL_GIT_SYNC_CONFIG="$config"
unset config
docker run --detach --name "$WM_JOB_ID" "${network[@]}" \
  -e WM_TOKEN -e WM_WORKSPACE -e BASE_INTERNAL_URL -e RUST_LOG \
  -e WINDMILL_GIT_SYNC_CONFIG \
  --entrypoint /bin/sh "$image" \
  -c 'c="$WINDMILL_GIT_SYNC_CONFIG"; unset WINDMILL_GIT_SYNC_CONFIG
printf "%s" "$c" | windmill-git-sync --config -'
