# shellcheck shell=bash
# Backs up this workspace to a Git remote with windmill-git-sync.
#
# The worker needs windmill-git-sync, wmill (the server's version), git and
# curl on PATH. The Windmill side comes from the job itself: WM_TOKEN,
# WM_WORKSPACE and BASE_INTERNAL_URL. The git token is read from a Windmill
# variable with the job's token and reaches the tool on stdin only: script
# arguments show in the worker's process list, so none of them is a secret.
git_remote_url="$1"
git_branch="${2:-main}"
git_token_variable="${3:-f/git_sync/git_token}"
repo_subdir="${4:-}"

set -euo pipefail

fail() {
  printf 'backup: %s\n' "$*" >&2
  exit 2
}

# A JSON string literal for a non-secret value.
json_string() {
  local s="$1"
  if [[ "$s" == *[[:cntrl:]]* ]]; then
    fail "a value holds a control character: $s"
  fi
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  printf '"%s"' "$s"
}

for program in windmill-git-sync wmill git curl; do
  command -v "$program" >/dev/null || fail "$program is not on the worker's PATH"
done
[[ -n "$git_remote_url" ]] || fail "git_remote_url is required"
[[ -n "${WM_TOKEN:-}" && -n "${WM_WORKSPACE:-}" && -n "${BASE_INTERNAL_URL:-}" ]] ||
  fail "WM_TOKEN, WM_WORKSPACE and BASE_INTERNAL_URL are missing: run this as a Windmill job"
[[ "$git_token_variable" =~ ^[ugf](/[A-Za-z0-9_-]+){2,}$ ]] ||
  fail "git_token_variable is not a Windmill path: $git_token_variable"

# The bearer header goes to curl on stdin (printf is a shell builtin), so the
# job token never appears in an argument list.
url="${BASE_INTERNAL_URL%/}/api/w/${WM_WORKSPACE}/variables/get_value/${git_token_variable}"
if ! git_token_json="$(printf 'header = "Authorization: Bearer %s"\n' "$WM_TOKEN" |
  curl --silent --show-error --fail --max-time 30 --config - -- "$url")"; then
  fail "could not read the variable $git_token_variable (does it exist, and may this job's user read it?)"
fi
# The API answers with the value as one JSON string; it goes into the config
# as it is, after checking that it is exactly that.
json_string_re='^"([^"\[:cntrl:]]|\\.)+"$'
[[ "$git_token_json" =~ $json_string_re ]] ||
  fail "the variable $git_token_variable does not hold a single-line token"

# Only the git settings: inside a job the tool takes the Windmill URL,
# workspace and token from the job's environment.
config="{\"git_remote_url\": $(json_string "$git_remote_url")"
config+=", \"git_branch\": $(json_string "$git_branch")"
if [[ -n "$repo_subdir" ]]; then
  config+=", \"repo_subdir\": $(json_string "$repo_subdir")"
fi
config+=", \"git_token\": ${git_token_json}}"
unset git_token_json

# Windmill reads ./result.json as the job's result. The tool's exit code
# becomes the script's, so a failed backup fails the job (and a flow's
# error handler runs).
status=0
printf '%s' "$config" | windmill-git-sync --config - --result-file ./result.json || status=$?
unset config
exit "$status"
