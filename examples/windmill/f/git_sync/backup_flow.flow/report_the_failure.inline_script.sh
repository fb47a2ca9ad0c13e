# shellcheck shell=bash
# The flow's error handler: runs when a step failed, and the flow still ends
# as failed. Send the message on from here (a chat webhook, a mail, a
# ticket); the tool's log and result JSON are in the failed step's job.
message="$1"
step_id="$2"
printf 'windmill-git-sync backup failed in step %s: %s\n' "$step_id" "$message" >&2
