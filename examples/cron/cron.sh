#!/bin/sh
# A small cron for the windmill-git-sync image. It runs as the container's
# own user (no root, no setuid, no files outside its crontab), so it works
# with the image's non-root user.
#
#   cron.sh CRONTAB                   run the crontab's jobs, forever
#   cron.sh --check CRONTAB           report bad lines and exit
#   cron.sh --due CRONTAB "M H D MON W"
#                                     print the commands due at that time
#
# A crontab line is five fields (minute, hour, day of month, month, day of
# week) and a command, or @hourly, @daily, @weekly or @monthly and a command.
# A field is `*`, a number, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`,
# or a comma-separated list of those; names (jan, mon) are not supported.
# Unlike cron, `%` is an ordinary character. As in cron, when both day
# fields are restricted, a day matching either one is due. Times are the
# container's clock: UTC unless TZ says otherwise.
# Jobs run one at a time through /bin/sh; a minute that passes while a job
# runs is skipped, so runs never overlap. SIGTERM and SIGINT are passed to a
# running job, which is waited for.
set -uf

log() {
  printf '%s cron: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

# Prints a decimal number without leading zeros; fails on anything else.
number() {
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  n=${1#"${1%%[!0]*}"}
  printf '%s\n' "${n:-0}"
}

# field_matches SPEC VALUE MIN MAX: status 0 when VALUE matches, 1 when it
# does not, 2 when SPEC is malformed.
field_matches() {
  spec=$1 value=$2 lo=$3 hi=$4 found=1
  [ -n "$spec" ] || return 2
  old_ifs=$IFS
  IFS=,
  # shellcheck disable=SC2086 # split on commas; globbing is off (set -f)
  set -- $spec
  IFS=$old_ifs
  case $spec in ,* | *, | *,,*) return 2 ;; esac
  for part in "$@"; do
    step=1
    case $part in
      */*)
        step=$(number "${part#*/}") || return 2
        [ "$step" -gt 0 ] || return 2
        part=${part%/*}
        ;;
    esac
    case $part in
      '*') first=$lo last=$hi ;;
      *-*)
        first=$(number "${part%%-*}") || return 2
        last=$(number "${part#*-}") || return 2
        ;;
      *)
        first=$(number "$part") || return 2
        last=$first
        [ "$step" -eq 1 ] || last=$hi
        ;;
    esac
    [ "$first" -ge "$lo" ] && [ "$last" -le "$hi" ] && [ "$first" -le "$last" ] || return 2
    if [ "$value" -ge "$first" ] && [ "$value" -le "$last" ] &&
      [ $(((value - first) % step)) -eq 0 ]; then
      found=0
    fi
  done
  return "$found"
}

# matches "M H D MON W" MIN HOUR DAY MONTH WEEKDAY: as field_matches.
matches() {
  # shellcheck disable=SC2086 # split into words; globbing is off (set -f)
  set -- $1 "$2" "$3" "$4" "$5" "$6"
  m=$1 h=$2 dom=$3 mon=$4 dow=$5
  minute=$(number "$6") hour=$(number "$7") day=$(number "$8")
  month=$(number "$9") weekday=$(number "${10}")
  field_matches "$m" "$minute" 0 59 || return $?
  field_matches "$h" "$hour" 0 23 || return $?
  field_matches "$mon" "$month" 1 12 || return $?
  field_matches "$dom" "$day" 1 31
  day_ok=$?
  [ "$day_ok" -le 1 ] || return 2
  # Day of week 0-7, both 0 and 7 meaning Sunday.
  field_matches "$dow" "$weekday" 0 7
  week_ok=$?
  [ "$week_ok" -le 1 ] || return 2
  if [ "$week_ok" -eq 1 ] && [ "$weekday" -eq 0 ]; then
    field_matches "$dow" 7 0 7
    week_ok=$?
  fi
  case $dom in '*'*) either=0 ;; *) either=1 ;; esac
  case $dow in '*'*) either=0 ;; esac
  if [ "$either" -eq 1 ]; then
    [ "$day_ok" -eq 0 ] || [ "$week_ok" -eq 0 ]
  else
    [ "$day_ok" -eq 0 ] && [ "$week_ok" -eq 0 ]
  fi
}

# Drops the first $1 blank-separated words of $2 and the blanks after them.
drop_words() {
  count=$1 text=$2
  while [ "$count" -gt 0 ]; do
    text=${text#"${text%%[! 	]*}"}
    text=${text#"${text%%[ 	]*}"}
    count=$((count - 1))
  done
  printf '%s\n' "${text#"${text%%[! 	]*}"}"
}

# due CRONTAB "MIN HOUR DAY MONTH WEEKDAY": prints each command due then;
# reports malformed lines on stderr and then fails.
due() {
  crontab=$1 now=$2 bad=0 lineno=0
  while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    # shellcheck disable=SC2086 # split into words; globbing is off (set -f)
    set -- $line
    case ${1:-#} in '#'*) continue ;; esac
    words=5
    case $1 in
      @hourly) fields='0 * * * *' words=1 ;;
      @daily | @midnight) fields='0 0 * * *' words=1 ;;
      @weekly) fields='0 0 * * 0' words=1 ;;
      @monthly) fields='0 0 1 * *' words=1 ;;
      *) fields="$1 ${2:-} ${3:-} ${4:-} ${5:-}" ;;
    esac
    if [ $# -le "$words" ]; then
      log "$crontab:$lineno: expected five time fields (or @hourly...) and a command"
      bad=1
      continue
    fi
    # shellcheck disable=SC2086 # the time is five numbers, split on purpose
    matches "$fields" $now
    case $? in
      0) drop_words "$words" "$line" ;;
      1) ;;
      *)
        log "$crontab:$lineno: bad time field in: $fields"
        bad=1
        ;;
    esac
  done <"$crontab"
  return "$bad"
}

job=
stop() {
  if [ -n "$job" ]; then
    kill -TERM "$job" 2>/dev/null
    wait "$job"
  fi
  log "stopped"
  exit 143
}

run() {
  crontab=$1
  due "$crontab" "0 0 1 1 1" >/dev/null || exit 2
  trap stop TERM INT
  log "started as $(id -un 2>/dev/null || id -u) with $crontab"
  while :; do
    second=$(number "$(date +%S)")
    sleep $((60 - second)) &
    job=$!
    wait "$job"
    job=
    commands=$(due "$crontab" "$(date '+%M %H %d %m %w')")
    [ -n "$commands" ] || continue
    while IFS= read -r command; do
      log "starting: $command"
      /bin/sh -c "$command" &
      job=$!
      wait "$job"
      status=$?
      job=
      log "finished with exit code $status: $command"
    done <<COMMANDS
$commands
COMMANDS
  done
}

case ${1:-} in
  --check) [ $# -eq 2 ] && [ -r "$2" ] || exit 2; due "$2" "0 0 1 1 1" >/dev/null ;;
  --due) [ $# -eq 3 ] && [ -r "$2" ] || exit 2; due "$2" "$3" ;;
  -* | '') echo "usage: cron.sh CRONTAB | --check CRONTAB | --due CRONTAB 'M H D MON W'" >&2; exit 2 ;;
  *) [ -r "$1" ] || { log "cannot read $1"; exit 2; }; run "$1" ;;
esac
